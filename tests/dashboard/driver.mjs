// A line-oriented Playwright driver for the dashboard tests (tests/dashboard/browser.py).
// stdin: one JSON command a line; stdout: one JSON reply a line ({ok, value} or {ok:false, error}).
// It records every request the page makes and every console error, so the tests can check
// that nothing leaves the node and that the page calls only read-only methods.
import { chromium } from "playwright-core";
import readline from "node:readline";

const [executablePath, userDataDir] = process.argv.slice(2);
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath, headless: true, viewport: { width: 1440, height: 1000 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-dev-shm-usage"],
});
const page = context.pages()[0] || (await context.newPage());
const requests = [];
const problems = [];
page.on("request", (r) => {
  let methods = [];
  if (r.method() === "POST") {
    try { const b = JSON.parse(r.postData() || "null"); methods = (Array.isArray(b) ? b : [b]).map((x) => x && x.method); } catch { /* not JSON */ }
  }
  requests.push({ url: r.url(), method: r.method(), rpc: methods });
});
page.on("websocket", (ws) => {
  requests.push({ url: ws.url(), method: "WEBSOCKET", rpc: [] });
  ws.on("framesent", (f) => { try { const m = JSON.parse(f.payload); requests.push({ url: ws.url(), method: "WS", rpc: [m.method], params: m.params }); } catch { /* binary */ } });
});
page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
page.on("pageerror", (e) => problems.push("pageerror: " + e.message));

// tests pass functions as source text ("() => …", "(arg) => …"): make them real functions
const fn = (js) => new Function("arg", `return (${js})(arg);`);

const commands = {
  goto: async ({ url }) => { await page.goto(url, { waitUntil: "load" }); return page.url(); },
  wait: async ({ selector, ms, state }) => { await page.waitForSelector(selector, { timeout: ms ?? 15000, state: state ?? "visible" }); return true; },
  waitFn: async ({ js, arg, ms }) => { const h = await page.waitForFunction(fn(js), arg, { timeout: ms ?? 15000, polling: 50 }); return h.jsonValue(); },
  eval: async ({ js, arg }) => page.evaluate(fn(js), arg),
  text: async ({ selector }) => page.locator(selector).first().innerText({ timeout: 5000 }),
  click: async ({ selector }) => { await page.locator(selector).first().click({ timeout: 5000 }); return true; },
  fill: async ({ selector, value }) => { await page.locator(selector).first().fill(value, { timeout: 5000 }); return true; },
  press: async ({ selector, key }) => { await page.locator(selector).first().press(key, { timeout: 5000 }); return true; },
  screenshot: async ({ path, fullPage }) => { await page.screenshot({ path, fullPage: fullPage ?? true }); return path; },
  requests: async () => requests,
  problems: async () => problems,
  close: async () => { await context.close(); return true; },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let reply;
  try {
    const msg = JSON.parse(line);
    const fn = commands[msg.cmd];
    if (!fn) throw new Error(`unknown command ${msg.cmd}`);
    reply = { ok: true, value: await fn(msg) };
    if (msg.cmd === "close") { process.stdout.write(JSON.stringify(reply) + "\n"); break; }
  } catch (e) {
    reply = { ok: false, error: String(e && e.message || e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
process.exit(0);
