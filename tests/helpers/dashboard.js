// The dashboard in a real browser (tests/93-dashboard.t): Debian's chromium,
// headless, driven over the DevTools protocol by puppeteer-core.
//   node dashboard.js URL TOKEN STACK ARTIFACTS-DIR
// Prints one JSON line per check: {"name", "ok", "detail"}; screenshots go
// to ARTIFACTS-DIR. PUPPETEER_DIR names where puppeteer-core is installed.
"use strict";
const path = require("path");
const puppeteer = require(path.join(process.env.PUPPETEER_DIR, "node_modules", "puppeteer-core"));

const [url, token, stack, outdir] = process.argv.slice(2);
const check = (name, cond, detail = "") =>
  console.log(JSON.stringify({name, ok: !!cond, detail: String(detail)}));
const shot = (page, name) => page.screenshot({path: path.join(outdir, name + ".png"), fullPage: true});

async function pidOf(page, replica) {
  return page.$eval(`[data-stack="${stack}"] tr[data-replica="${replica}"]`, (tr) => tr.dataset.pid)
    .catch(() => null);
}

async function ticks(page) {
  return page.$$eval("#logs li", (lis) => lis.map((li) => {
    const m = /tick (\d+)/.exec(li.dataset.text);
    return m ? Number(m[1]) : 0;
  }));
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push("page error: " + e.message));
    // The first request, before the token is typed, is answered 401 on
    // purpose: the browser logs that as a failed load, not a script error.
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of 401/.test(m.text())) errors.push("console: " + m.text());
    });
    await page.setViewport({width: 1280, height: 900});
    await page.goto(url, {waitUntil: "load"});

    // The token, through the page's own form (TCP needs one).
    await page.waitForSelector("#login:not([hidden])", {timeout: 10000});
    check("the page asks for the token, with a labelled field",
      await page.$eval("#token", (i) => !!document.querySelector(`label[for="${i.id}"]`)));
    await page.type("#token", token);
    await page.keyboard.press("Enter");
    await page.waitForSelector(`[data-stack="${stack}"] tr[data-replica]`, {timeout: 15000});
    await page.waitForFunction((s) =>
      document.querySelectorAll(`[data-stack="${s}"] tr[data-replica][data-state="running"]`).length >= 3,
      {timeout: 15000}, stack);
    const rows = await page.$$eval(`[data-stack="${stack}"] tr[data-replica]`, (trs) =>
      trs.map((t) => [t.dataset.replica, t.dataset.state, t.querySelector(".pid").textContent]));
    check("the page shows the stack's services and replicas, running, with their pids",
      rows.length === 3 && rows.every((r) => r[1] === "running" && /^\d+$/.test(r[2])), JSON.stringify(rows));
    const states = await page.$$eval(`[data-stack="${stack}"] .badge`, (b) => b.map((x) => x.textContent));
    check("states are said in words, not by colour alone", states.includes("running"), states.join(","));
    check("the connection shows live", (await page.$eval("#conn", (c) => c.textContent)) === "live");
    await shot(page, "01-stacks");

    // A service's logs: a line appears while we watch.
    await page.click(`[data-stack="${stack}"] tr[data-service="ticker"] [data-action="logs"]`);
    await page.waitForFunction(() => document.querySelectorAll("#logs li").length > 0, {timeout: 10000});
    const seen = Math.max(...(await ticks(page)));
    await page.waitForFunction((n) => [...document.querySelectorAll("#logs li")]
      .some((li) => Number((/tick (\d+)/.exec(li.dataset.text) || [0, 0])[1]) > n), {timeout: 5000}, seen);
    check("a new log line appears live, without a reload", true, `after tick ${seen}`);
    // Search filters and marks.
    await page.type("#search", "tick 1");
    const filtered = await page.$$eval("#logs li:not([hidden])", (lis) => lis.map((l) => l.dataset.text));
    check("search shows only the matching lines, marked",
      filtered.length > 0 && filtered.every((t) => t.includes("tick 1")) &&
      (await page.$$("#logs li:not([hidden]) mark")).length > 0, filtered.slice(0, 3).join("|"));
    await page.$eval("#search", (i) => { i.value = ""; i.dispatchEvent(new Event("input")); });
    // Charts: CPU and memory per replica, drawn from the stats stream.
    await page.waitForFunction(() => {
      const f = document.querySelector('figure[data-chart="ticker-1"]');
      return f && f.querySelectorAll("polyline").length === 2 &&
        f.querySelector("polyline").getAttribute("points").split(" ").length >= 3;
    }, {timeout: 15000});
    const label = await page.$eval('figure[data-chart="ticker-1"]', (f) => f.getAttribute("aria-label"));
    check("a chart of CPU and memory per replica, with its values as text", /CPU [\d.]+%, memory/.test(label), label);
    await shot(page, "02-logs-and-charts");

    // Restart, confirmed; first cancelled with Escape.
    const before = await pidOf(page, "web-1");
    const restart = `[data-stack="${stack}"] tr[data-service="web"] [data-action="restart"]`;
    await page.focus(restart);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#confirm[open]", {timeout: 5000});
    check("restart asks first, with the focus on its confirm button",
      await page.evaluate(() => document.activeElement.id === "confirm-ok"));
    await shot(page, "03-confirm");
    await page.keyboard.press("Escape");
    await new Promise((ok) => setTimeout(ok, 1500));
    check("Escape cancels: the replica keeps its pid", (await pidOf(page, "web-1")) === before);
    await page.click(restart);
    await page.waitForSelector("#confirm[open]", {timeout: 5000});
    await page.click("#confirm-ok");
    await page.waitForFunction((s, p) => {
      const tr = document.querySelector(`[data-stack="${s}"] tr[data-replica="web-1"]`);
      return tr && tr.dataset.pid !== p && tr.dataset.state === "running";
    }, {timeout: 20000}, stack, before);
    const after = await pidOf(page, "web-1");
    check("confirmed, the replica restarts and the page shows its new pid", after && after !== before,
      `${before} -> ${after}`);
    await page.waitForFunction(() => /restarted/.test(document.querySelector("#events").textContent),
      {timeout: 10000});
    check("the events timeline shows the restart", true);
    await shot(page, "04-restarted");

    // Every control has a name a screen reader can say.
    const unnamed = await page.evaluate(() => [...document.querySelectorAll("input, button, select")]
      .filter((e) => !e.closest("[hidden]"))
      .filter((e) => !(e.getAttribute("aria-label") || (e.id && document.querySelector(`label[for="${e.id}"]`)) ||
        e.closest("label") || e.textContent.trim()))
      .map((e) => e.outerHTML.slice(0, 80)));
    check("every control is labelled", unnamed.length === 0, unnamed.join(" "));

    // A narrow screen: one column, nothing wider than the screen.
    await page.setViewport({width: 375, height: 800});
    await new Promise((ok) => setTimeout(ok, 500));
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check("usable on a narrow screen: nothing wider than 375 px", wide <= 375, `scrollWidth ${wide}`);
    await shot(page, "05-narrow");
    check("no script error on the page", errors.length === 0, errors.join("; "));
  } catch (e) {
    check("the dashboard run completes", false, e.stack || e);
  } finally {
    await browser.close();
  }
})();
