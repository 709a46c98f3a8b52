// memwarden's memory panel for ComfyUI: a sidebar tab with live RAM (against the
// effective limit), swap, pressure, VRAM per GPU with the processes holding it, the
// last cleanups, the leak detector's verdict and a chart of memory over the last
// prompt with its node starts; buttons run the pack's cleanup modes.
//
// Uses the current frontend's extension API through window.comfyAPI (no imports of
// the deprecated scripts/ paths), the pack's routes (/api/memwarden/...) and the
// "memwarden.status" messages ComfyUI's websocket carries while the tab is open.

const { app } = window.comfyAPI.app;
const { api } = window.comfyAPI.api;

const EVENT = "memwarden.status";
const SETTING_RATE = "memwarden.Panel.RefreshSeconds";
const SETTING_LIVE = "memwarden.Panel.Live";
const GB = 2 ** 30;
const MODES = [
  ["monitor", "Measure"],
  ["conservative", "Conservative"],
  ["balanced", "Balanced"],
  ["aggressive", "Aggressive"],
];
const SECTION_NAMES = { cleanups: "Last cleanups", guard: "Headroom guard", leak: "Leak detector" };
const SETTING_GUARD = "memwarden.Guard.Enabled";
const SETTING_RESERVE = "memwarden.Guard.ReserveMB";
const SETTING_RAM_FIGURES = "memwarden.Guard.ContainerRamFigures";

// The headroom guard's settings take effect at once (ComfyUI stores them too, for
// the next start). onChange gets the new value: frontends up to 1.4x call it
// before they store it.
function applyGuard(body) {
  api.fetchApi("/memwarden/guard", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }).catch(() => {});
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

const gb = (b) => (b == null ? "n/a" : `${(Math.abs(b) < GB / 200 ? 0 : b / GB).toFixed(2)} GB`);
// A measured change: "freed 1.20 GB", or "grew 0.30 GB" when memory grew.
const freed = (b) => (b < -GB / 200 ? `grew ${gb(-b)}` : `freed ${gb(Math.max(b, 0))}`);
const pct = (p) => (p == null ? "n/a" : `${Number(p).toFixed(1)} %`);

function setting(id, fallback) {
  const v = app.extensionManager?.setting?.get(id);
  return v === undefined || v === null ? fallback : v;
}

// One bar: label, "used / total (percent)", raw bytes in data attributes so the
// page's figures can be compared with the snapshot route.
function bar(key, label, used, total, note) {
  const frac = total > 0 ? Math.min(1, used / total) : 0;
  const level = frac >= 0.9 ? "crit" : frac >= 0.75 ? "warn" : "ok";
  return el(
    "div",
    { class: "mw-bar", "data-mw": key, "data-used": String(used), "data-total": String(total) },
    el("div", { class: "mw-bar-label" }, el("span", { text: label }),
      el("span", { class: "mw-bar-value", text: `${gb(used)} / ${gb(total)} (${pct(frac * 100)})` })),
    el("div", { class: "mw-bar-track" }, el("div", { class: `mw-bar-fill mw-${level}`, style: `width:${(frac * 100).toFixed(1)}%` })),
    note ? el("div", { class: "mw-note", text: note }) : null,
  );
}

function pressureView(p) {
  const psi = p.cgroup ?? p.system;
  const line = psi
    ? `some ${psi.some_avg10.toFixed(1)} %` + (psi.full_avg10 == null ? "" : `, full ${psi.full_avg10.toFixed(1)} %`) + " of the last 10 s"
    : "PSI not available";
  return el("div", { class: "mw-row", "data-mw": "pressure", "data-level": p.level },
    el("span", { class: `mw-pill mw-p-${p.level}`, text: `Pressure: ${p.level}` }),
    el("span", { class: "mw-note", text: line, title: p.description }));
}

function gpuView(g) {
  if (!g.available || g.devices.length === 0) {
    return el("div", { class: "mw-note", "data-mw": "vram-none", text: `VRAM: no GPU (${g.reason ?? "none found"})` });
  }
  return el("div", {}, ...g.devices.map((d) => el("div", { class: "mw-gpu" },
    bar(`gpu${d.index}`, `GPU ${d.index}: ${d.name}`, d.used_bytes, d.total_bytes),
    el("ul", { class: "mw-procs" }, ...d.processes.map((p) => el("li", {
      "data-pid": String(p.pid),
      text: `${p.name ?? "?"} (pid ${p.pid}, ${p.kind}): ${p.used_bytes == null ? "n/a" : gb(p.used_bytes)}`,
    }))),
  )));
}

function figuresView(f) {
  const ram = f.ram;
  const where = ram.source === "cgroup" ? "container limit" : "host";
  const swapNote = f.swap.total === 0 ? "no swap configured" : null;
  return el("div", { class: "mw-figures", "data-taken": String(f.taken_at_unix_ms), "data-memtotal": String(f.mem_total_bytes) },
    bar("ram", `RAM (${where})`, ram.used_bytes, ram.total_bytes, ram.source === "cgroup" ? ram.reason : null),
    bar("swap", "Swap", f.swap.used, f.swap.total, swapNote),
    pressureView(f.pressure),
    gpuView(f.gpu),
    f.process ? el("div", { class: "mw-note", "data-mw": "rss", "data-bytes": String(f.process.rss_bytes),
      text: `ComfyUI (pid ${f.process.pid}) resident: ${gb(f.process.rss_bytes)}` }) : null,
  );
}

function cleanupsView(data) {
  if (!data.items || data.items.length === 0) return el("div", { class: "mw-note", text: `none yet (${data.source})` });
  return el("ul", { class: "mw-list" }, ...data.items.map((i) => el("li", {
    text: `${new Date(i.at_unix_ms).toLocaleTimeString()} ${i.mode}: ${freed(i.process_freed_bytes + i.vram_freed_bytes)}` +
      ` (process ${freed(i.process_freed_bytes)}, VRAM ${freed(i.vram_freed_bytes)}) in ${i.duration_s.toFixed(2)} s`,
  })));
}

function genericView(data) {
  if (data && typeof data === "object") {
    const text = data.text ?? data.verdict ?? data.summary;
    if (typeof text === "string") return el("pre", { class: "mw-pre", text });
  }
  return el("pre", { class: "mw-pre", text: JSON.stringify(data, null, 2) });
}

function sectionView(name, s) {
  let body;
  if (!s.running) body = el("div", { class: "mw-note mw-off", text: "not running" });
  else if (s.error) body = el("div", { class: "mw-note mw-crit-text", text: `error: ${s.error}` });
  else body = name === "cleanups" ? cleanupsView(s.data) : genericView(s.data);
  return el("div", { class: "mw-section", "data-section": name }, el("h4", { text: SECTION_NAMES[name] ?? name }), body);
}

// The chart: RAM used, VRAM used and ComfyUI's RSS over the trace, node starts marked.
function drawChart(canvas, trace, samples) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300;
  const h = canvas.clientHeight || 140;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  if (samples.length === 0) {
    g.fillStyle = "#888";
    g.fillText("no samples yet", 8, h / 2);
    return;
  }
  const t0 = trace.prompt_id == null ? samples[0][0] : 0;
  const t1 = Math.max(samples[samples.length - 1][0], trace.end == null ? 0 : trace.end - trace.start, t0 + 1);
  const ymax = Math.max(...samples.flatMap((s) => [s[1], s[2] ?? 0, s[3] ?? 0])) * 1.1 || 1;
  const x = (t) => 4 + ((t - t0) / (t1 - t0)) * (w - 8);
  const y = (v) => h - 14 - (v / ymax) * (h - 24);
  g.font = "10px sans-serif";
  trace.markers.forEach((m, i) => {
    g.strokeStyle = "rgba(160,160,160,0.5)";
    g.beginPath(); g.moveTo(x(m.t), 0); g.lineTo(x(m.t), h - 12); g.stroke();
    g.fillStyle = "#aaa";
    g.fillText(m.node_type ?? `#${m.node_id}`, x(m.t) + 2, 10 + (i % 4) * 11);
  });
  const series = [[1, "#4aa3ff", "RAM"], [2, "#b86bff", "VRAM"], [3, "#3fcf8e", "RSS"]];
  series.forEach(([col, color, name], i) => {
    const pts = samples.filter((s) => s[col] != null);
    if (pts.length === 0) return;
    g.strokeStyle = color;
    g.beginPath();
    pts.forEach((s, j) => (j ? g.lineTo(x(s[0]), y(s[col])) : g.moveTo(x(s[0]), y(s[col]))));
    g.stroke();
    g.fillStyle = color;
    g.fillText(name, 4 + i * 40, h - 2);
  });
  g.fillStyle = "#aaa";
  g.fillText(`${gb(ymax / 1.1)} max, ${(t1 - t0).toFixed(1)} s`, w - 120, h - 2);
}

class MemwardenPanel {
  constructor(root) {
    this.root = root;
    this.trace = null;
    this.samples = [];
    this.onStatus = (e) => this.update(e.detail);
    this.onReconnect = () => this.subscribe();
    this.build();
  }

  build() {
    this.status = el("span", { class: "mw-live", text: "connecting..." });
    this.figures = el("div", { "data-mw": "figures" });
    this.chartTitle = el("h4", { text: "Memory" });
    this.canvas = el("canvas", { class: "mw-chart", "data-mw": "chart" });
    this.chartNote = el("div", { class: "mw-note" });
    this.sections = el("div", {});
    this.report = el("pre", { class: "mw-pre mw-report", "data-mw": "report" });
    this.buttons = MODES.map(([mode, label]) => el("button", {
      class: "mw-btn", "data-mode": mode, text: label, onclick: () => this.cleanup(mode),
    }));
    this.root.append(el("div", { class: "mw-panel" },
      el("div", { class: "mw-head" }, el("h3", { text: "memwarden" }), this.status),
      this.figures,
      this.chartTitle, this.canvas, this.chartNote,
      el("h4", { text: "Cleanup" }), el("div", { class: "mw-buttons" }, ...this.buttons), this.report,
      this.sections));
  }

  async start() {
    api.addEventListener(EVENT, this.onStatus);
    api.addEventListener("reconnected", this.onReconnect);
    const r = await api.fetchApi("/memwarden/snapshot");
    if (r.ok) {
      const body = await r.json();
      this.showFigures(body.figures);
      this.showSections(body.sections);
    }
    await this.loadChart();
    await this.subscribe();
  }

  stop() {
    api.removeEventListener(EVENT, this.onStatus);
    api.removeEventListener("reconnected", this.onReconnect);
    this.post("/memwarden/feed/config", { client_id: api.clientId ?? "", enabled: false }).catch(() => {});
  }

  post(route, body) {
    return api.fetchApi(route, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  // changed: the value a setting's onChange was given. Frontends up to 1.4x call
  // onChange before they store the new value, so reading it back would give the old one.
  async subscribe(changed = {}) {
    for (let i = 0; !api.clientId && i < 50; i++) await new Promise((r) => setTimeout(r, 100));
    const live = Boolean(changed[SETTING_LIVE] ?? setting(SETTING_LIVE, true));
    const interval = Number(changed[SETTING_RATE] ?? setting(SETTING_RATE, 1));
    this.live = live;
    const r = await this.post("/memwarden/feed/config", { client_id: api.clientId, interval_s: interval, enabled: live });
    const cfg = await r.json();
    this.status.textContent = live ? `live, every ${cfg.interval_s} s` : "paused (setting: live updates off)";
    this.chartNote.textContent = `node starts: ${cfg.node_markers}`;
  }

  async loadChart() {
    const r = await api.fetchApi("/memwarden/chart");
    if (!r.ok) return;
    const c = await r.json();
    this.trace = c;
    this.samples = c.samples;
    this.drawChart();
  }

  drawChart() {
    if (!this.trace) return;
    const t = this.trace;
    this.chartTitle.textContent = t.prompt_id == null
      ? "Memory, recent samples (no prompt yet)"
      : `Memory over the ${t.end == null ? "running" : "last"} prompt (${t.prompt_id.slice(0, 8)})`;
    drawChart(this.canvas, this.trace, this.samples);
  }

  showFigures(f) {
    this.figures.replaceChildren(figuresView(f));
  }

  showSections(sections) {
    this.sections.replaceChildren(...Object.entries(sections).map(([n, s]) => sectionView(n, s)));
  }

  update(msg) {
    if (msg.error) {
      this.status.textContent = `sampling failed: ${msg.error}`;
      return;
    }
    this.showFigures(msg.figures);
    // A message already on its way when live updates were switched off: shown, but
    // the status keeps saying paused.
    if (this.live !== false) this.status.textContent = `live, ${new Date(msg.figures.taken_at_unix_ms).toLocaleTimeString()}`;
    this.showSections(msg.sections);
    const t = msg.trace;
    // Another prompt, or samples missed: fetch the whole trace again. The same seq:
    // the sample fell after the prompt's end (not part of it); only the header moves.
    if (!this.trace || t.prompt_id !== this.trace.prompt_id || t.seq > this.trace.seq + 1 || t.seq < this.trace.seq) {
      this.loadChart();
      return;
    }
    if (t.seq === this.trace.seq + 1) this.samples.push(msg.sample);
    this.trace = { ...this.trace, ...t };
    this.drawChart();
  }

  async cleanup(mode) {
    this.buttons.forEach((b) => (b.disabled = true));
    this.report.textContent = `running ${mode} cleanup...`;
    try {
      const r = await this.post("/memwarden/cleanup", { mode });
      const body = await r.json();
      this.report.textContent = r.ok ? body.text : `refused (${r.status}): ${body.error}`;
      this.report.dataset.status = String(r.status);
    } catch (e) {
      this.report.textContent = `cleanup request failed: ${e}`;
    } finally {
      this.buttons.forEach((b) => (b.disabled = false));
    }
  }
}

let panel = null;

app.registerExtension({
  name: "memwarden.Panel",
  settings: [
    {
      id: SETTING_RATE,
      category: ["memwarden", "Panel", "Refresh"],
      name: "Panel refresh interval (seconds)",
      tooltip: "How often the memory panel's figures are sampled while it is open (0.25 to 60 s).",
      type: "number",
      defaultValue: 1,
      attrs: { min: 0.25, max: 60, step: 0.25 },
      onChange: (value) => panel?.subscribe({ [SETTING_RATE]: value }),
    },
    {
      id: SETTING_LIVE,
      category: ["memwarden", "Panel", "Live"],
      name: "Live updates in the memory panel",
      tooltip: "Off: the server samples nothing for this page.",
      type: "boolean",
      defaultValue: true,
      onChange: (value) => panel?.subscribe({ [SETTING_LIVE]: value }),
    },
    {
      id: SETTING_GUARD,
      category: ["memwarden", "Headroom guard", "Enabled"],
      name: "Headroom guard (keeps ComfyUI from being OOM-killed)",
      tooltip: "Gives cached models back before the memory limit is reached and refuses a model load that cannot fit. Off: nothing of this.",
      type: "boolean",
      defaultValue: true,
      // Not on the page's first load (no old value): the environment's
      // MEMWARDEN_GUARD=0 stays obeyed until someone switches it here.
      onChange: (value, old) => old !== undefined && applyGuard({ enabled: Boolean(value) }),
    },
    {
      id: SETTING_RESERVE,
      category: ["memwarden", "Headroom guard", "Reserve"],
      name: "Reserve (MB) kept free under the memory limit",
      tooltip: "0: 10 % of the limit, at least 512 MB, at most 2 GB.",
      type: "number",
      defaultValue: 0,
      attrs: { min: 0, max: 1048576, step: 64 },
      onChange: (value, old) => old !== undefined && applyGuard({ reserve_mb: Number(value) || 0 }),
    },
    {
      id: SETTING_RAM_FIGURES,
      category: ["memwarden", "Headroom guard", "RAM figures"],
      name: "ComfyUI judges RAM by the container's limit",
      tooltip: "Lets ComfyUI's own RAM decisions (its RAM-pressure cache, its CPU device's free memory) see the memory limit instead of the host's RAM. Takes effect at the next start.",
      type: "boolean",
      defaultValue: true,
    },
  ],
  async setup() {
    const link = el("link", { rel: "stylesheet", href: new URL("../css/memwarden.css", import.meta.url).href });
    document.head.append(link);
    app.extensionManager.registerSidebarTab({
      id: "memwarden",
      icon: "pi pi-chart-bar",
      title: "memwarden",
      tooltip: "memwarden: memory",
      type: "custom",
      // Frontends 1.27 to 1.58 mount a "custom" tab through render(element) each time
      // it opens and call destroy() when it closes. A second render of the same element
      // replaces the panel rather than adding one.
      render: (root) => {
        panel?.stop();
        root.replaceChildren();
        panel = new MemwardenPanel(root);
        panel.start();
      },
      destroy: () => {
        panel?.stop();
        panel = null;
      },
    });
  },
});
