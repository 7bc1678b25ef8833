// The real Flink web dashboard (served by dashboard-proxy.py, REST answered by a yarn-sim
// JobManager) in headless Chromium: each page must render with no console error, no failed
// request and no REST answer >= 400.
// usage: node flink-dashboard.mjs <dashboard url> <running job id> <finished job id> <taskmanager id>
import { chromium } from 'playwright-core';

const [base, running, finished, tm] = process.argv.slice(2);
const pages = [
  // 1.20 titles it "Running Job List", 2.x "Running Application List".
  ['overview', /Running (Job|Application) List/],
  ['job/running', 'Endless'],
  ['job/completed', 'Endless'],
  [`job/running/${running}/overview`, null],
  [`job/running/${running}/exceptions`, null],
  [`job/running/${running}/checkpoints`, null],
  [`job/running/${running}/configuration`, null],
  [`job/completed/${finished}/overview`, null],
  ['task-manager', null],
  [`task-manager/${tm}/metrics`, null],
  [`task-manager/${tm}/logs`, null],
  [`task-manager/${tm}/stdout`, null],
  ['job-manager/config', 'taskmanager.numberOfTaskSlots'],
  ['job-manager/metrics', null],
  ['job-manager/logs', null],
];

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let failures = 0;
try {
  const page = await browser.newPage();
  let problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`); });
  for (const [route, expect] of pages) {
    problems = [];
    await page.goto(`${base}/#/${route}`);
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(1500);
    const text = await page.locator('body').innerText();
    const shown = expect instanceof RegExp ? expect.test(text) : !expect || text.includes(expect);
    if (!shown) problems.push(`the page does not show ${expect}`);
    const uniq = [...new Set(problems)];
    console.log(`${uniq.length ? 'FAIL' : 'ok  '} #/${route}`);
    for (const p of uniq) console.log(`       ${p}`);
    if (uniq.length) failures++;
  }
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
