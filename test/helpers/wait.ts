/** Tests wait on conditions with a deadline, never on fixed sleeps: the product's own wait. */
export { waitUntil as waitFor } from '../../src/process/wait';
