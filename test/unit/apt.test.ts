import assert from 'node:assert/strict';
import { installSentence } from '../../src/stack/apt';
import { CHROMIUM_PACKAGE } from '../../src/stack/chromium';
import { redisPackage } from '../../src/stack/redis';
import { loadConfig } from '../../src/config';

describe('what to install, when provisioning cannot', () => {
  const redis = redisPackage(loadConfig({}));

  it('names every missing package, what it is for and how to install it, in one sentence', () => {
    assert.equal(
      installSentence([redis, CHROMIUM_PACKAGE]),
      'redis-server and chromium are missing (for Redis and the browser tests): install them ' +
        '(Debian: sudo apt-get install redis-server chromium; macOS: brew install redis), then run this again.',
    );
    assert.equal(
      installSentence([CHROMIUM_PACKAGE]),
      'chromium is missing (for the browser tests): install it (Debian: sudo apt-get install chromium), then run this again.',
    );
  });
});
