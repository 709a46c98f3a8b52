// Cost of the panel's feed to ComfyUI (run by bench/panel_feed.py, which starts
// ComfyUI): CPU time and RSS of the ComfyUI process over SECONDS in three states,
// one after another in one run:
//   idle   no page connected;
//   page   the ComfyUI page connected, the memwarden tab closed (no feed);
//   feed   the memwarden tab open, the feed at 1 sample/s.
// Usage: node bench/panel_feed.mjs http://127.0.0.1:PORT COMFYUI_PID SECONDS
// Prints one JSON line per state.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const [base, pid, seconds] = process.argv.slice(2);
const TICK = 100; // USER_HZ on Linux
const PAGE = 4096;

function proc() {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rss = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE;
  return { cpu_s: (Number(f[11]) + Number(f[12])) / TICK, rss };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(state, start = async () => {}, extra = async () => ({})) {
  await sleep(5000); // settle
  await start();
  const a = proc();
  const t0 = performance.now();
  await sleep(Number(seconds) * 1000);
  const b = proc();
  const wall = (performance.now() - t0) / 1000;
  const out = {
    state,
    wall_s: Number(wall.toFixed(1)),
    cpu_s: Number((b.cpu_s - a.cpu_s).toFixed(2)),
    core_percent: Number((((b.cpu_s - a.cpu_s) / wall) * 100).toFixed(3)),
    rss_start_mib: Number((a.rss / 2 ** 20).toFixed(1)),
    rss_end_mib: Number((b.rss / 2 ** 20).toFixed(1)),
    ...(await extra()),
  };
  console.log(JSON.stringify(out));
}

async function main() {
  await measure("idle");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(base);
  const button = page.locator(".memwarden-tab-button");
  await button.waitFor({ timeout: 120000 });
  await page.keyboard.press("Escape");
  await measure("page");
  await button.click();
  await page.waitForFunction(() => document.querySelector(".mw-live")?.textContent.startsWith("live, "), null, {
    timeout: 30000,
  });
  const sent = async () => (await (await fetch(`${base}/api/memwarden/feed/config`)).json()).samples_sent;
  let before = 0;
  await measure("feed", async () => (before = await sent()), async () => ({ samples_sent: (await sent()) - before }));
  await browser.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
