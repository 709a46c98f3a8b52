// The memwarden panel in a real browser: headless Chromium (the Debian package)
// driven by playwright-core against a running ComfyUI with the node pack.
//
//     node tests/e2e/panel_e2e.mjs http://127.0.0.1:PORT OUT_DIR PROMPT_JSON
//
// The checks, in every frontend (1.27 to 1.58): the sidebar tab renders its content
// when opened (not only its button), drops it and stops the feed when closed, renders
// it again once when reopened; the live feed replaces the figures, which match
// /memwarden/snapshot; a workflow's chart; a cleanup button's report; the "live
// updates" setting switched in ComfyUI's settings dialog is stored by ComfyUI
// (/settings), obeyed, kept over a reload. MEMWARDEN_PANEL_FRONTEND=VERSION: the page
// must run that frontend.
//
// Run by tests/e2e/panel_e2e.py (scripts/test-panel), which starts ComfyUI. Needs
// playwright-core resolvable (NODE_PATH=target/panel-e2e/node_modules) and
// CHROMIUM (default /usr/bin/chromium). Writes screenshots to OUT_DIR; prints one line
// per check and a summary "panel e2e: N ok, M failed"; exit 1 when a check failed.

import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [base, outDir, promptFile] = process.argv.slice(2);
// The frontend version the page must run (MEMWARDEN_PANEL_FRONTEND), when given.
const frontend = process.env.MEMWARDEN_PANEL_FRONTEND || "";
if (!base || !outDir || !promptFile) {
  console.error("usage: node tests/e2e/panel_e2e.mjs http://127.0.0.1:PORT OUT_DIR PROMPT_JSON");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const counts = { ok: 0, failed: 0 };

function check(cond, what) {
  counts[cond ? "ok" : "failed"] += 1;
  console.log(`${cond ? "ok  " : "FAIL"} ${what}`);
}

// Memory used moves between the page's sample and the route's snapshot (this
// machine builds other things at the same time): the used figures are compared
// within 5 % of the total, the fixed ones (MemTotal, the limit, swap size, the GPUs,
// ComfyUI's pid) exactly.
const USED_TOLERANCE = 0.05;

async function pageFigures(page) {
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    const bar = (k) => {
      const e = q(`[data-mw="${k}"]`);
      return e ? { used: Number(e.dataset.used), total: Number(e.dataset.total), text: e.textContent } : null;
    };
    const gpus = [...document.querySelectorAll('[data-mw^="gpu"]')].map((e) => e.dataset.mw);
    return {
      memTotal: Number(q("[data-memtotal]")?.dataset.memtotal),
      ram: bar("ram"),
      swap: bar("swap"),
      pressure: q('[data-mw="pressure"]')?.dataset.level,
      rss: Number(q('[data-mw="rss"]')?.dataset.bytes),
      rssText: q('[data-mw="rss"]')?.textContent,
      gpus,
    };
  });
}

async function routeJson(page, path, init) {
  return page.evaluate(
    async ([p, i]) => {
      const r = await fetch(p, i);
      return { status: r.status, body: await r.json() };
    },
    [path, init],
  );
}

function compareFigures(shown, route) {
  const f = route.figures;
  check(shown.memTotal === f.mem_total_bytes, `MemTotal on the page equals the route's (${shown.memTotal})`);
  check(shown.ram.total === f.ram.total_bytes, `RAM limit on the page equals the route's (${shown.ram.total}, ${f.ram.source})`);
  check(shown.swap.total === f.swap.total, `swap total on the page equals the route's (${shown.swap.total})`);
  const ramDiff = Math.abs(shown.ram.used - f.ram.used_bytes) / f.ram.total_bytes;
  check(ramDiff <= USED_TOLERANCE, `RAM used on the page ${shown.ram.used} vs route ${f.ram.used_bytes}: ${(ramDiff * 100).toFixed(2)} % of the total`);
  const swapDiff = f.swap.total ? Math.abs(shown.swap.used - f.swap.used) / f.swap.total : 0;
  check(swapDiff <= USED_TOLERANCE, `swap used on the page ${shown.swap.used} vs route ${f.swap.used}`);
  const gb = (b) => `${(b / 2 ** 30).toFixed(2)} GB`;
  check(shown.ram.text.includes(`${gb(shown.ram.used)} / ${gb(shown.ram.total)}`), `RAM bar reads "${shown.ram.text}"`);
  check(shown.rssText.includes(`pid ${f.process.pid}`), `ComfyUI's pid shown (${shown.rssText})`);
  const rssDiff = Math.abs(shown.rss - f.process.rss_bytes) / f.process.rss_bytes;
  check(rssDiff <= 0.1, `ComfyUI's RSS on the page ${shown.rss} vs route ${f.process.rss_bytes} (within 10 %)`);
  const gpus = f.gpu.devices.map((d) => `gpu${d.index}`);
  check(JSON.stringify(shown.gpus) === JSON.stringify(gpus), `GPUs on the page ${JSON.stringify(shown.gpus)} = route's ${JSON.stringify(gpus)}`);
  check(["none", "low", "moderate", "high", "critical"].includes(shown.pressure), `pressure level shown (${shown.pressure})`);
}

const TAB_BUTTON = '.memwarden-tab-button, [data-testid="memwarden-tab-button"]'; // class until 1.5x, test id after
const LIVE_SWITCH = "Live updates in the memory panel"; // the name of the memwarden.Panel.Live setting

// The feed's subscriber count, as the server counts it.
async function subscribers(page) {
  return (await routeJson(page, "/api/memwarden/feed/config")).body.subscribers;
}

async function until(page, what, fn, timeout = 20000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout / 1000} s waiting until ${what}`);
    await page.waitForTimeout(250);
  }
}

// A first-run dialog (templates, release notes), if any, is closed.
async function closeDialogs(page) {
  for (let i = 0; i < 5 && (await page.getByRole("dialog").count()) > 0; i++) {
    await page.keyboard.press("Escape");
    await page.waitForTimeout(300);
  }
}

// The page loaded, the frontend the test asked for, the tab's button there.
async function loadPage(page) {
  await page.goto(base, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.comfyAPI?.app?.app?.extensionManager?.registerSidebarTab && window.__COMFYUI_FRONTEND_VERSION__, null, {
    timeout: 120000,
  });
  const button = page.locator(TAB_BUTTON);
  await button.waitFor({ timeout: 60000 });
  await page.waitForTimeout(500);
  await closeDialogs(page);
  return button;
}

// The tab's content, rendered: one panel, visible, with the RAM bar's figures.
async function rendered(page, when) {
  await page.locator('[data-mw="ram"]').waitFor({ state: "visible", timeout: 30000 });
  const panels = await page.locator(".mw-panel").count();
  const box = await page.locator(".mw-panel").first().boundingBox();
  const text = await page.locator('[data-mw="ram"] .mw-bar-value').textContent();
  check(panels === 1 && box && box.width > 150 && box.height > 150 && /GB \/ .* GB/.test(text),
    `${when}: the tab renders its content (${panels} panel, ${box ? `${Math.round(box.width)}x${Math.round(box.height)} px` : "no box"}, RAM "${text}")`);
}

async function openPanel(page) {
  const button = await loadPage(page);
  const version = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__);
  check(!frontend || version === frontend, `the page runs frontend ${version}${frontend ? ` (asked for ${frontend})` : ""}`);
  check(await page.locator(".mw-panel").count() === 0, "the memwarden sidebar tab is registered, nothing rendered before it opens");
  await button.click();
  await rendered(page, "opened");
  // Closed: the frontend drops the content and the page stops the feed; opened again:
  // rendered afresh, once.
  await button.click();
  await until(page, "the panel is gone", async () => (await page.locator(".mw-panel").count()) === 0, 10000);
  const left = await until(page, "the feed has no subscriber", async () => (await subscribers(page)) === 0 && "0", 10000)
    .catch(async () => subscribers(page));
  check(left === "0", `closed: the panel is removed and the feed stopped (subscribers: ${left})`);
  await button.click();
  await rendered(page, "opened again");
  // Wider sidebar for the screenshots: drag the splitter's gutter, if it has one.
  const gutter = page.locator(".p-splitter-gutter").first();
  const box = (await gutter.count()) ? await gutter.boundingBox() : null;
  if (box) {
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + 260, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
  }
}

async function feedArrives(page) {
  await page.waitForFunction(() => document.querySelector(".mw-live")?.textContent.startsWith("live, "), null, {
    timeout: 20000,
  });
  const cfg = await routeJson(page, "/api/memwarden/feed/config");
  check(cfg.body.sampling === true && cfg.body.subscribers === 1, `feed sampling for 1 page (${JSON.stringify(cfg.body)})`);
  // Pushed figures replace the shown ones: three samples, each newer than the last.
  const taken = [];
  for (let i = 0; i < 3; i++) {
    const t = await until(page, "a newer sample is shown", async () => {
      const v = Number(await page.locator("[data-taken]").getAttribute("data-taken"));
      return (taken.length === 0 || v > taken[taken.length - 1]) && v;
    });
    taken.push(t);
  }
  check(taken.length === 3, `the live feed updates the figures (samples taken at ${taken.join(", ")} ms)`);
  const sections = await page.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll("[data-section]")].map((e) => [e.dataset.section, e.textContent])),
  );
  check("leak" in sections && "cleanups" in sections, `sections shown: ${JSON.stringify(sections)}`);
}

// A workflow run while the tab is open: the chart follows it, node starts marked.
async function promptChart(page) {
  const prompt = JSON.parse(readFileSync(promptFile, "utf8"));
  await page.evaluate(() => window.comfyAPI.app.app.extensionManager.setting.set("memwarden.Panel.RefreshSeconds", 0.25));
  const clientId = await page.evaluate(() => window.comfyAPI.api.api.clientId);
  const queued = await routeJson(page, "/api/prompt", { method: "POST", body: JSON.stringify({ prompt, client_id: clientId }) });
  check(queued.status === 200, `workflow queued (${queued.body.prompt_id})`);
  const id = queued.body.prompt_id;
  for (let i = 0; i < 360; i++) {
    const c = (await routeJson(page, "/api/memwarden/chart")).body;
    const h = (await routeJson(page, `/api/history/${id}`)).body;
    if (c.prompt_id === id && c.end !== null && h[id]?.status?.completed !== undefined) break;
    await page.waitForTimeout(500);
  }
  const chart = (await routeJson(page, "/api/memwarden/chart")).body;
  const types = new Set(Object.values(prompt).map((n) => n.class_type));
  const hist = (await routeJson(page, `/api/history/${id}`)).body[id];
  check(hist?.status?.status_str === "success", `the workflow ran (${String(JSON.stringify(hist?.status)).slice(0, 600)})`);
  check(chart.samples.length >= 1, `the chart holds ${chart.samples.length} samples of prompt ${id} (${chart.start} to ${chart.end})`);
  check(chart.markers.length >= 1 && chart.markers.every((m) => types.has(m.node_type)),
    `node starts marked: ${chart.markers.map((m) => m.node_type).join(", ")}`);
  await page.evaluate(() => window.comfyAPI.app.app.extensionManager.setting.set("memwarden.Panel.RefreshSeconds", 1));
  await page.waitForTimeout(1500); // let the page redraw the chart of the finished prompt
}

async function cleanupReport(page) {
  const before = await routeJson(page, "/api/memwarden/cleanup", { method: "POST", body: '{"mode": "nope"}' });
  check(before.status === 400 && before.body.error.includes("nope"), `unknown mode refused: ${before.body.error}`);
  await page.locator('.mw-btn[data-mode="balanced"]').click();
  const report = page.locator('[data-mw="report"]');
  await page.waitForFunction(() => document.querySelector('[data-mw="report"]')?.dataset.status, null, { timeout: 120000 });
  const text = await report.textContent();
  check(text.startsWith("memwarden cleanup (balanced)") && text.includes("CLEANUP RESULTS:"), "a click on Balanced shows the cleanup report");
  check((await report.getAttribute("data-status")) === "200", "the cleanup route answered 200");
  await page.waitForFunction(
    () => document.querySelector('[data-section="cleanups"]')?.textContent.includes("balanced"),
    null,
    { timeout: 20000 },
  );
  check(true, "the last cleanups list the balanced cleanup");
}

// The "live updates" setting switched off in ComfyUI's settings dialog: stored by
// ComfyUI (/settings), obeyed (no sampling), kept over a reload; then on again.
async function settingsDialogToggle(page) {
  await page.evaluate(() => window.comfyAPI.app.app.extensionManager.command.execute("Comfy.ShowSettingsDialog"));
  const dialog = page.getByRole("dialog");
  await dialog.first().waitFor({ timeout: 20000 });
  await dialog.locator("input").first().fill("memwarden");
  const toggle = page.getByRole("switch", { name: LIVE_SWITCH });
  await toggle.waitFor({ timeout: 20000 });
  const before = await toggle.getAttribute("aria-checked");
  await toggle.click();
  await until(page, "the switch moves", async () => (await toggle.getAttribute("aria-checked")) !== before, 10000);
  const after = await toggle.getAttribute("aria-checked");
  await closeDialogs(page);
  return [before, after];
}

// The panel's status line once it starts with `prefix`, or as it is after 20 s.
async function statusSays(page, prefix) {
  const text = async () => (await page.locator(".mw-live").textContent()) ?? "";
  return until(page, `the panel's status starts with "${prefix}"`, async () => {
    const t = await text();
    return t.startsWith(prefix) && t;
  }, 20000)
    .catch(text);
}

async function storedLive(page) {
  return (await routeJson(page, `/api/settings/${encodeURIComponent("memwarden.Panel.Live")}`)).body;
}

async function settingsPersist(page) {
  const [before, after] = await settingsDialogToggle(page);
  check(before === "true" && after === "false", `the settings dialog lists "${LIVE_SWITCH}" under memwarden; switched ${before} -> ${after}`);
  const stored = await until(page, "ComfyUI stores the setting", async () => (await storedLive(page)) === false && "false", 10000)
    .catch(async () => JSON.stringify(await storedLive(page)));
  check(stored === "false", `GET /api/settings/memwarden.Panel.Live answers ${stored}`);
  const status = await statusSays(page, "paused");
  const cfg = (await routeJson(page, "/api/memwarden/feed/config")).body;
  check(status.startsWith("paused") && cfg.subscribers === 0 && cfg.sampling === false,
    `live updates off: the panel says "${status}", the server samples for ${cfg.subscribers} pages`);
  const button = await loadPage(page);
  await button.click();
  await rendered(page, "after a reload");
  const reloaded = await statusSays(page, "paused");
  const kept = await page.evaluate(() => window.comfyAPI.app.app.extensionManager.setting.get("memwarden.Panel.Live"));
  check(kept === false && reloaded.startsWith("paused") && (await subscribers(page)) === 0,
    `after a reload the setting is kept (${kept}) and the panel says "${reloaded}"`);
  const [b2, a2] = await settingsDialogToggle(page);
  const resumed = await statusSays(page, "live, ");
  check(b2 === "false" && a2 === "true" && resumed.startsWith("live, ") && (await storedLive(page)) === true && (await subscribers(page)) === 1,
    `switched on again (${b2} -> ${a2}): stored, the panel says "${resumed}", the feed runs for the page`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => (String(e.stack).includes("memwarden") ? errors.push(String(e.stack)) : console.log(`info page error outside the panel: ${e}`)));
  page.on("console", (m) => m.type() === "error" && m.text().includes("memwarden") && errors.push(m.text()));
  try {
    // A fresh user folder: no first-run templates dialog over the sidebar.
    const seeded = await fetch(`${base}/api/settings`, { method: "POST", body: JSON.stringify({ "Comfy.TutorialCompleted": true }) });
    check(seeded.ok, `first-run tutorial marked done (POST /api/settings: ${seeded.status})`);
    await openPanel(page);
    await feedArrives(page);
    // The page's latest sample and the route's snapshot, taken a moment apart: when a
    // fixed figure differs (other work on this machine switched swap on or off in
    // between), both are taken again, at most three times.
    let shown;
    let route;
    for (let i = 0; i < 3; i++) {
      shown = await pageFigures(page);
      route = await routeJson(page, "/api/memwarden/snapshot");
      const f = route.body.figures;
      if (shown.memTotal === f.mem_total_bytes && shown.ram.total === f.ram.total_bytes && shown.swap.total === f.swap.total) break;
      await page.waitForTimeout(1500);
    }
    check(route.status === 200, "GET /api/memwarden/snapshot answers 200");
    compareFigures(shown, route.body);
    await page.screenshot({ path: join(outDir, "panel-live.png") });
    await promptChart(page);
    await page.screenshot({ path: join(outDir, "panel-prompt.png") });
    await cleanupReport(page);
    await page.screenshot({ path: join(outDir, "panel-cleanup.png") });
    await page.screenshot({ path: join(outDir, "panel.png"), clip: { x: 0, y: 0, width: 900, height: 900 } });
    await settingsPersist(page);
    await page.screenshot({ path: join(outDir, "panel-settings.png") });
    check(errors.length === 0, `no memwarden errors in the page (${errors.join("; ")})`);
  } catch (e) {
    check(false, `browser run: ${e}`);
    await page.screenshot({ path: join(outDir, "failure.png") }).catch(() => {});
  } finally {
    await browser.close();
  }
  console.log(`panel e2e: ${counts.ok} ok, ${counts.failed} failed`);
  process.exit(counts.failed ? 1 : 0);
}

main();
