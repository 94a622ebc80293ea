/**
 * The dashboard's one page: HTML, CSS and the script that polls /api/overview every 2 s and
 * redraws in place (no reload, no framework, nothing fetched but /api/overview, so it works
 * offline). Every value comes into the page as text (textContent, SVG attributes), never as
 * HTML: app versions, device types and locales are free text from the input.
 *
 * Each number carries a stable data-testid: total-logins, unique-users, dead-letters-total,
 * lag-total, app-version-logins-<version>, device-type-<name>, locale-<code>,
 * dead-letters-<reason>, lag-<partition>; the chart lines are series-<version>. The last
 * reconcile: reconcile-status (green, red, never run or unavailable), reconcile-differences,
 * reconcile-compared, reconcile-window, reconcile-checked-at and its first differences as rows
 * reconcile-difference-<i>. The circuit breaker: breaker-status (closed, open: input paused, off,
 * unknown), breaker-detail, breaker-resume, breaker-error. The replays of dead letters: rows
 * replay-<i> (newest first, running ones first) with replay-state-<i>, replay-replayed-<i> and
 * replay-left-<i>; replays-error; the link link-replays.
 */
import { createHash } from 'node:crypto';

export const POLL_INTERVAL_MS = 2_000;

const STYLE = String.raw`
:root { color-scheme: light; --fg: #1f2933; --muted: #616e7c; --line: #d9dee3; --bg: #f5f7f9; --card: #fff; --accent: #2563eb; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.5rem 1.5rem; padding: 0.9rem 1.5rem; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 1.2rem; }
header .meta { color: var(--muted); }
#status { margin-left: auto; font-weight: 600; }
#status.live::before { content: "\25CF  "; color: #16a34a; }
#status.stale::before { content: "\25CF  "; color: var(--bad); }
main { padding: 1rem 1.5rem 2rem; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(19rem, 1fr)); max-width: 96rem; margin: 0 auto; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 0.8rem 1rem; min-width: 0; }
section.wide { grid-column: 1 / -1; }
@media (min-width: 48rem) { section.double { grid-column: span 2; } }
h2 { margin: 0 0 0.6rem; font-size: 0.95rem; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: 0.03em; }
.cards { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); }
.card .label { color: var(--muted); }
.card .value { font-size: 1.9rem; font-weight: 600; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 0.25rem 0.4rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 600; overflow-wrap: normal; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
.scroll { max-height: 22rem; overflow: auto; }
.empty { color: var(--muted); font-style: italic; }
.error { color: var(--bad); font-weight: 600; }
.error:empty { display: none; }
#chart { width: 100%; height: auto; display: block; }
#chart .axis { stroke: #9aa5b1; stroke-width: 1; }
#chart .grid { stroke: #eef1f4; stroke-width: 1; }
#chart text { font-size: 11px; fill: var(--muted); }
#chart .title { font-size: 12px; fill: var(--fg); }
#chart polyline { fill: none; stroke-width: 2; stroke-linejoin: round; }
#legend { display: flex; flex-wrap: wrap; gap: 0.3rem 1.2rem; margin-top: 0.4rem; padding: 0; list-style: none; }
#legend .swatch { display: inline-block; width: 0.9rem; height: 0.3rem; margin-right: 0.35rem; vertical-align: middle; border-radius: 2px; }
ul.links { margin: 0; padding-left: 1.1rem; }
ul.links li { margin: 0.3rem 0; }
a { color: var(--accent); }
code { font-size: 0.92em; }
.badge { display: inline-block; padding: 0.05rem 0.6rem; border-radius: 999px; font-weight: 600; background: #eef1f4; color: var(--muted); }
.badge.green { background: #dcfce7; color: #166534; }
.badge.red { background: #fee2e2; color: var(--bad); }
.reconcile-head { display: flex; flex-wrap: wrap; gap: 0.4rem 0.8rem; align-items: baseline; margin-bottom: 0.3rem; }
`;

const SCRIPT = String.raw`
(function () {
  "use strict";
  var POLL_MS = __POLL_MS__;
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4d7c0f", "#64748b", "#9333ea"];
  var numberFormat = new Intl.NumberFormat("en-US");

  function $(id) { return document.getElementById(id); }
  function fmt(n) { return typeof n === "number" && isFinite(n) ? numberFormat.format(n) : "\u2014"; }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, String(attrs[k]));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function entries(record) {
    var out = [];
    if (!record) return out;
    Object.keys(record).forEach(function (k) { out.push([k, record[k]]); });
    return out;
  }
  function byCountThenName(a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0); }
  function sum(values) { var s = 0; for (var i = 0; i < values.length; i++) s += values[i]; return s; }
  function setNumber(id, value) { $(id).textContent = fmt(value); }
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function clock(date) { return pad2(date.getHours()) + ":" + pad2(date.getMinutes()); }

  /** A table body of [name, count] rows with a share column; data-testid = prefix + name. */
  function fillCounts(tbodyId, rows, prefix, emptyText) {
    var tbody = $(tbodyId);
    tbody.replaceChildren();
    if (rows === null) { tbody.appendChild(emptyRow(3, "unavailable")); return; }
    if (rows.length === 0) { tbody.appendChild(emptyRow(3, emptyText)); return; }
    var total = sum(rows.map(function (r) { return r[1]; }));
    rows.sort(byCountThenName).forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", {}, r[0]));
      tr.appendChild(el("td", { "class": "num", "data-testid": prefix + r[0] }, fmt(r[1])));
      tr.appendChild(el("td", { "class": "num" }, total > 0 ? (100 * r[1] / total).toFixed(1) + "%" : ""));
      tbody.appendChild(tr);
    });
  }
  function emptyRow(columns, text) {
    var tr = el("tr");
    tr.appendChild(el("td", { colspan: String(columns), "class": "empty" }, text));
    return tr;
  }

  function niceStep(max, ticks) {
    var raw = Math.max(max, 1) / ticks;
    var magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (raw <= steps[i] * magnitude) return Math.max(1, steps[i] * magnitude);
    return 10 * magnitude;
  }

  function drawChart(data) {
    var chart = $("chart");
    var legend = $("legend");
    chart.replaceChildren();
    legend.replaceChildren();
    var W = 960, H = 320, left = 56, right = 16, top = 14, bottom = 44;
    var plotW = W - left - right, plotH = H - top - bottom;
    var series = data.series;
    var bucketSeconds = data.bucket_seconds;
    var perLabel = bucketSeconds === 60 ? "logins per minute" : "logins per " + bucketSeconds + " s";
    if (!series) {
      chart.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No data: Redis is unavailable"));
      return;
    }
    var buckets = series.buckets;
    var versions = Object.keys(series.logins_by_version).sort();
    var t0 = buckets.length ? buckets[0] : 0;
    var t1 = buckets.length ? buckets[buckets.length - 1] : 1;
    var span = Math.max(t1 - t0, 1);
    var max = 0;
    versions.forEach(function (v) { series.logins_by_version[v].forEach(function (n) { if (n > max) max = n; }); });
    var step = niceStep(max, 5);
    var yMax = Math.max(step, Math.ceil(max / step) * step);
    function x(t) { return left + (plotW * (t - t0)) / span; }
    function y(n) { return top + plotH - (plotH * n) / yMax; }

    for (var v = 0; v <= yMax; v += step) {
      chart.appendChild(svg("line", { "class": "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
      chart.appendChild(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    // x ticks every 10 minutes on the clock, labelled with the local time.
    var tickSeconds = 600;
    for (var t = Math.ceil(t0 / tickSeconds) * tickSeconds; t <= t1; t += tickSeconds) {
      chart.appendChild(svg("line", { "class": "axis", x1: x(t), x2: x(t), y1: top + plotH, y2: top + plotH + 5 }));
      chart.appendChild(svg("text", { x: x(t), y: top + plotH + 18, "text-anchor": "middle" }, clock(new Date(t * 1000))));
    }
    chart.appendChild(svg("line", { "class": "axis", x1: left, x2: W - right, y1: top + plotH, y2: top + plotH }));
    chart.appendChild(svg("line", { "class": "axis", x1: left, x2: left, y1: top, y2: top + plotH }));
    chart.appendChild(svg("text", { "class": "title", x: left + plotW / 2, y: H - 6, "text-anchor": "middle" }, "time (last hour, one point per " + (bucketSeconds === 60 ? "minute" : bucketSeconds + " s") + ")"));
    chart.appendChild(svg("text", { "class": "title", x: 14, y: top + plotH / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (top + plotH / 2) + ")" }, perLabel));

    if (versions.length === 0) {
      chart.appendChild(svg("text", { x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle" }, "No logins in the last hour"));
      legend.appendChild(el("li", { "class": "empty" }, "no app versions yet"));
      return;
    }
    versions.forEach(function (version, i) {
      var counts = series.logins_by_version[version];
      var color = COLORS[i % COLORS.length];
      var points = counts.map(function (n, k) { return x(buckets[k]).toFixed(1) + "," + y(n).toFixed(1); }).join(" ");
      var line = svg("polyline", { points: points, stroke: color, "data-testid": "series-" + version, "data-total": sum(counts) });
      line.appendChild(svg("title", {}, version));
      chart.appendChild(line);
      var item = el("li");
      var swatch = el("span", { "class": "swatch" });
      swatch.style.background = color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(version + " (" + fmt(sum(counts)) + " in the hour)"));
      legend.appendChild(item);
    });
  }

  function renderLag(data) {
    var tbody = $("lag-rows");
    tbody.replaceChildren();
    $("lag-error").textContent = data.lag_error || "";
    $("lag-caption").textContent = "group " + data.group_id + " on " + data.input_topic;
    if (!data.lag) { setNumber("lag-total", null); tbody.appendChild(emptyRow(4, "unavailable")); return; }
    setNumber("lag-total", data.lag.total);
    if (data.lag.partitions.length === 0) tbody.appendChild(emptyRow(4, "no partitions"));
    data.lag.partitions.forEach(function (p) {
      var tr = el("tr");
      tr.appendChild(el("td", {}, String(p.partition)));
      tr.appendChild(el("td", { "class": "num" }, p.high_watermark));
      tr.appendChild(el("td", { "class": "num" }, p.committed_offset === null ? "none" : p.committed_offset));
      tr.appendChild(el("td", { "class": "num", "data-testid": "lag-" + p.partition }, fmt(p.lag)));
      tbody.appendChild(tr);
    });
  }

  function renderVersions(summary) {
    var tbody = $("version-rows");
    tbody.replaceChildren();
    if (!summary) { tbody.appendChild(emptyRow(4, "unavailable")); return; }
    var versions = Object.keys(summary.app_versions);
    if (versions.length === 0) { tbody.appendChild(emptyRow(4, "no logins in the window")); return; }
    versions.sort().forEach(function (v) {
      var s = summary.app_versions[v];
      var tr = el("tr");
      tr.appendChild(el("td", {}, v));
      tr.appendChild(el("td", { "class": "num", "data-testid": "app-version-logins-" + v }, fmt(s.logins)));
      tr.appendChild(el("td", { "class": "num" }, fmt(s.unique_users)));
      tr.appendChild(el("td", { "class": "num" }, fmt(s.unique_devices)));
      tbody.appendChild(tr);
    });
  }

  function ago(iso) {
    var seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 90) return seconds + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    if (seconds < 129600) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " days ago";
  }

  function renderReconcile(data) {
    var r = data.last_reconcile;
    var status = $("reconcile-status");
    var tbody = $("reconcile-rows");
    tbody.replaceChildren();
    setNumber("reconcile-differences", r ? r.differences : null);
    setNumber("reconcile-compared", r ? r.compared : null);
    if (!r) {
      status.className = "badge";
      status.textContent = data.redis_error ? "unavailable" : "never run";
      $("reconcile-window").textContent = "";
      $("reconcile-checked-at").textContent = "";
      tbody.appendChild(emptyRow(4, data.redis_error ? "unavailable" : "no reconcile recorded"));
      return;
    }
    status.className = "badge " + (r.green ? "green" : "red");
    status.textContent = r.green ? "green" : "red";
    $("reconcile-window").textContent = "window " + r.window.start + " \u2192 " + r.window.end + " (event time, " + (r.app_version === null ? "all app versions" : "app version " + r.app_version) + ")";
    $("reconcile-checked-at").textContent = "checked " + r.checked_at + " (" + ago(r.checked_at) + "), " + fmt(r.logins) + " logins on the topic";
    r.top_differences.forEach(function (d, i) {
      var tr = el("tr", { "data-testid": "reconcile-difference-" + i });
      tr.appendChild(el("td", {}, d.app_version === null ? "(all)" : d.app_version));
      tr.appendChild(el("td", {}, d.field));
      tr.appendChild(el("td", { "class": "num" }, fmt(d.topic)));
      tr.appendChild(el("td", { "class": "num" }, fmt(d.redis)));
      tbody.appendChild(tr);
    });
    if (r.differences > r.top_differences.length) tbody.appendChild(emptyRow(4, "and " + fmt(r.differences - r.top_differences.length) + " more (npm run reconcile -- \u2026 --json lists them)"));
    if (r.differences === 0) tbody.appendChild(emptyRow(4, "no differences"));
  }

  function renderBreaker(data) {
    var b = data.breaker;
    var status = $("breaker-status");
    var detail = $("breaker-detail");
    var resume = $("breaker-resume");
    $("breaker-error").textContent = data.breaker_error || "";
    resume.textContent = "";
    if (!b) {
      status.className = "badge";
      status.textContent = "unknown";
      detail.textContent = "";
      return;
    }
    if (!b.enabled) {
      status.className = "badge";
      status.textContent = "off";
      detail.textContent = "DLQ_MAX_RATIO is not set: the input never pauses on dead letters.";
      return;
    }
    var rule = "trips above " + (100 * b.settings.maxRatio) + "% dead letters in the last " + fmt(b.settings.minRecords) + " records or more";
    if (b.open) {
      status.className = "badge red";
      status.textContent = "open: input paused";
      detail.textContent = "Since " + b.tripped.at + " (" + ago(b.tripped.at) + "): " + b.tripped.sentence + ". The records wait in Kafka.";
      resume.textContent = "Resume: npm run bridge -- --resume (or POST " + b.bridge_url + "/breaker/resume, or SIGUSR2 to the bridge)";
      return;
    }
    status.className = "badge green";
    status.textContent = "closed";
    detail.textContent = "Now " + fmt(b.window.deadLetters) + " dead letters in the last " + fmt(b.window.records) + " records; " + rule + "." +
      (b.resumed ? " Last resumed " + b.resumed.at + " (" + b.resumed.by + ")." : "");
  }

  function renderReplays(data) {
    var tbody = $("replay-rows");
    tbody.replaceChildren();
    $("replays-error").textContent = data.replays_error || "";
    if (!data.replays) { tbody.appendChild(emptyRow(5, "unavailable")); return; }
    if (data.replays.length === 0) { tbody.appendChild(emptyRow(5, "no replays yet")); return; }
    data.replays.forEach(function (r, i) {
      var tr = el("tr", { "data-testid": "replay-" + i });
      var cell = el("td");
      cell.appendChild(el("a", { href: r.link, target: "_blank", rel: "noopener", title: r.workflow_id }, r.selection || r.workflow_id));
      tr.appendChild(cell);
      var state = r.status.toLowerCase() + (r.dry_run ? " (dry run)" : "");
      if (r.progress && r.progress.total > 0) state += " " + Math.floor((100 * r.progress.done) / r.progress.total) + "%";
      tr.appendChild(el("td", { "data-testid": "replay-state-" + i }, state));
      tr.appendChild(el("td", { "class": "num", "data-testid": "replay-replayed-" + i }, fmt(r.replayed)));
      tr.appendChild(el("td", { "class": "num", "data-testid": "replay-left-" + i }, fmt(r.left)));
      tr.appendChild(el("td", {}, ago(r.started_at)));
      tbody.appendChild(tr);
    });
  }

  function setLink(id, href) {
    var a = $(id);
    if (a.getAttribute("href") !== href) a.setAttribute("href", href);
  }

  function render(data) {
    var summary = data.summary;
    $("redis-error").textContent = data.redis_error || "";
    setNumber("total-logins", summary ? summary.totals.logins : null);
    setNumber("unique-users", summary ? summary.totals.unique_users : null);
    setNumber("dead-letters-total", data.dead_letters ? data.dead_letters.total : null);
    $("window").textContent = summary
      ? "window " + clock(new Date(summary.window.start)) + "\u2013" + clock(new Date(summary.window.end)) + " (" + Math.round(summary.window.seconds / 60) + " min, event time)"
      : "";
    fillCounts("device-rows", data.device_types ? entries(data.device_types) : null, "device-type-", "no logins in the window");
    fillCounts("locale-rows", data.locales ? entries(data.locales) : null, "locale-", "no logins in the window");
    fillCounts("dead-letter-rows", data.dead_letters ? entries(data.dead_letters.by_reason) : null, "dead-letters-", "no dead letters in the hour");
    renderVersions(summary);
    renderLag(data);
    renderReconcile(data);
    renderBreaker(data);
    renderReplays(data);
    drawChart(data);
    setLink("link-workflows", data.temporal.workflows);
    setLink("link-dead-letter-batches", data.temporal.dead_letter_batches);
    setLink("link-insights", data.temporal.insights_workflow);
    setLink("link-replays", data.temporal.replays);
    $("insights-id").textContent = decodeURIComponent(data.temporal.insights_workflow.split("/").pop());
    $("topic-name").textContent = data.input_topic;
    $("topic-name-2").textContent = data.input_topic;
  }

  var updates = 0;
  function setStatus(ok, text) {
    var status = $("status");
    status.className = ok ? "live" : "stale";
    status.textContent = text;
  }

  function poll() {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, 10000) : 0;
    fetch("api/overview", { cache: "no-store", signal: controller ? controller.signal : undefined })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (data) {
        render(data);
        updates++;
        document.body.setAttribute("data-updates", String(updates));
        setStatus(true, "Live \u00B7 updated " + new Date(data.generated_at).toLocaleTimeString());
      })
      .catch(function (err) {
        setStatus(false, "Not updating: " + (err && err.message ? err.message : String(err)) + " (retrying)");
      })
      .then(function () {
        clearTimeout(timer);
        setTimeout(poll, POLL_MS);
      });
  }
  poll();
})();
`.replace('__POLL_MS__', String(POLL_INTERVAL_MS));

const BODY = String.raw`
<header>
  <h1>Login pipeline</h1>
  <span class="meta" id="window"></span>
  <span id="status" class="stale" data-testid="status">Loading…</span>
</header>
<main>
  <section class="wide">
    <div class="error" id="redis-error" data-testid="redis-error"></div>
    <div class="cards">
      <div class="card"><div class="label">Logins in the window</div><div class="value" id="total-logins" data-testid="total-logins">—</div></div>
      <div class="card"><div class="label">Unique users in the window</div><div class="value" id="unique-users" data-testid="unique-users">—</div></div>
      <div class="card"><div class="label">Dead letters in the last hour</div><div class="value" id="dead-letters-total" data-testid="dead-letters-total">—</div></div>
      <div class="card"><div class="label">Consumer lag (records)</div><div class="value" id="lag-total" data-testid="lag-total">—</div></div>
    </div>
  </section>
  <section class="wide">
    <h2>Logins per minute by app version, last hour</h2>
    <svg id="chart" data-testid="chart" viewBox="0 0 960 320" role="img" aria-label="Logins per minute per app version over the last hour"></svg>
    <ul id="legend" data-testid="legend"></ul>
  </section>
  <section>
    <h2>App versions (window)</h2>
    <table><thead><tr><th>version</th><th class="num">logins</th><th class="num">users</th><th class="num">devices</th></tr></thead><tbody id="version-rows"></tbody></table>
  </section>
  <section>
    <h2>Device types (window)</h2>
    <div class="scroll"><table><thead><tr><th>device type</th><th class="num">logins</th><th class="num">share</th></tr></thead><tbody id="device-rows"></tbody></table></div>
  </section>
  <section>
    <h2>Locales (window)</h2>
    <div class="scroll"><table><thead><tr><th>locale</th><th class="num">logins</th><th class="num">share</th></tr></thead><tbody id="locale-rows"></tbody></table></div>
  </section>
  <section>
    <h2>Dead letters by reason (last hour)</h2>
    <table><thead><tr><th>reason</th><th class="num">records</th><th class="num">share</th></tr></thead><tbody id="dead-letter-rows"></tbody></table>
  </section>
  <section class="double">
    <h2>Last reconcile</h2>
    <div class="reconcile-head">
      <span id="reconcile-status" class="badge" data-testid="reconcile-status">—</span>
      <span><span id="reconcile-differences" data-testid="reconcile-differences">—</span> differences in <span id="reconcile-compared" data-testid="reconcile-compared">—</span> values compared</span>
    </div>
    <div class="meta" id="reconcile-window" data-testid="reconcile-window"></div>
    <div class="meta" id="reconcile-checked-at" data-testid="reconcile-checked-at"></div>
    <table><thead><tr><th>version</th><th>field</th><th class="num">topic</th><th class="num">Redis</th></tr></thead><tbody id="reconcile-rows"></tbody></table>
    <div class="meta">Check a window: <code>npm run reconcile -- --since T --until T</code></div>
  </section>
  <section>
    <h2>Circuit breaker</h2>
    <div class="reconcile-head"><span id="breaker-status" class="badge" data-testid="breaker-status">—</span></div>
    <div class="error" id="breaker-error" data-testid="breaker-error"></div>
    <div class="meta" id="breaker-detail" data-testid="breaker-detail"></div>
    <div id="breaker-resume" data-testid="breaker-resume"></div>
  </section>
  <section class="double">
    <h2>Replays of dead letters</h2>
    <div class="error" id="replays-error" data-testid="replays-error"></div>
    <div class="scroll"><table><thead><tr><th>selection</th><th>state</th><th class="num">replayed</th><th class="num">left in DLQ</th><th>started</th></tr></thead><tbody id="replay-rows"></tbody></table></div>
    <div class="meta">Replay after a fix: <code>npm run dlq -- replay [--reason R] [--dry-run]</code> · <a id="link-replays" data-testid="link-replays" target="_blank" rel="noopener">all replays in the Temporal Web UI</a></div>
  </section>
  <section class="double">
    <h2>Consumer lag</h2>
    <div class="meta" id="lag-caption"></div>
    <div class="error" id="lag-error" data-testid="lag-error"></div>
    <div class="scroll"><table><thead><tr><th>partition</th><th class="num">end offset</th><th class="num">committed</th><th class="num">lag</th></tr></thead><tbody id="lag-rows"></tbody></table></div>
  </section>
  <section>
    <h2>Temporal</h2>
    <ul class="links">
      <li><a id="link-workflows" data-testid="link-workflows" target="_blank" rel="noopener">Batch workflows of <span id="topic-name"></span></a></li>
      <li><a id="link-dead-letter-batches" data-testid="link-dead-letter-batches" target="_blank" rel="noopener">Batches of <span id="topic-name-2"></span> with dead letters</a></li>
      <li><a id="link-insights" data-testid="link-insights" target="_blank" rel="noopener">Insights workflow <span id="insights-id"></span></a></li>
    </ul>
  </section>
</main>
`;

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Login pipeline dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** Only the page's own inline style and script run; it talks only to its own origin. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
