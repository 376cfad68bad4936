// Live job page: polls the job's JSON and redraws the progress bar and the loss curve.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const svg = document.getElementById("curve");
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 260, PAD = { l: 48, r: 12, t: 12, b: 28 };

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw(history, totalSteps) {
    svg.replaceChildren();
    const points = history.filter((p) => p.loss !== null || p.eval_loss !== null);
    const values = points.flatMap((p) => [p.loss, p.eval_loss]).filter((v) => v !== null && v !== undefined);
    if (!values.length) {
      svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "muted" }, "Waiting for the first step…"));
      return;
    }
    const maxStep = Math.max(totalSteps || 1, ...points.map((p) => p.step));
    const lo = Math.min(...values) * 0.95, hi = Math.max(...values) * 1.05 || 1;
    const x = (s) => PAD.l + ((W - PAD.l - PAD.r) * s) / maxStep;
    const y = (v) => H - PAD.b - ((H - PAD.t - PAD.b) * (v - lo)) / (hi - lo || 1);
    svg.append(el("line", { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, class: "axis" }));
    svg.append(el("line", { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b, class: "axis" }));
    for (const v of [lo, (lo + hi) / 2, hi]) svg.append(el("text", { x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, v.toFixed(2)));
    for (const s of [0, Math.round(maxStep / 2), maxStep]) svg.append(el("text", { x: x(s), y: H - 8, "text-anchor": "middle", class: "tick" }, String(s)));
    for (const [key, cls] of [["loss", "train"], ["eval_loss", "eval"]]) {
      const series = points.filter((p) => p[key] !== null && p[key] !== undefined);
      if (!series.length) continue;
      // Every point gets a dot, so even a 12-step run reads clearly.
      if (series.length > 1) svg.append(el("polyline", { points: series.map((p) => `${x(p.step)},${y(p[key])}`).join(" "), class: `curve curve--${cls}` }));
      for (const p of series) svg.append(el("circle", { cx: x(p.step), cy: y(p[key]), r: 3, class: `dot dot--${cls}` }));
    }
  }

  async function poll() {
    let job;
    try {
      job = await (await fetch(root.dataset.url, { headers: { Accept: "application/json" } })).json();
    } catch (err) {
      setTimeout(poll, 4000);
      return;
    }
    const pct = job.total_steps ? Math.round((100 * job.step) / job.total_steps) : 0;
    document.getElementById("bar").style.width = pct + "%";
    document.querySelector(".progress").setAttribute("aria-valuenow", String(pct));
    const status = document.getElementById("status");
    status.textContent = job.status;
    status.className = "status status--" + job.status;
    const waiting = document.getElementById("waiting");  // sent to the queue, no worker yet
    if (waiting) waiting.hidden = job.status !== "queued";
    document.getElementById("attempts").textContent = job.attempts > 1 ? `(resumed, run ${job.attempts})` : "";
    const eta = job.eta_s ? ` · about ${Math.ceil(job.eta_s / 60)} min left` : "";
    const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(3));
    document.getElementById("numbers").textContent =
      `step ${job.step} of ${job.total_steps || "?"} · loss ${fmt(job.loss)} · eval loss ${fmt(job.eval_loss)} · ${job.tokens_per_s ? Math.round(job.tokens_per_s) : "–"} tokens/s${eta}`;
    const error = document.getElementById("error");
    error.hidden = !job.error;
    error.textContent = job.error || "";
    if (job.adapter) document.getElementById("adapter").textContent = `Adapter ${job.adapter} is ready: promote it on the fine-tuning page.`;
    draw(job.history || [], job.total_steps);
    const cancel = document.getElementById("cancel");
    const finished = ["succeeded", "failed", "cancelled"].includes(job.status);
    if (cancel) cancel.disabled = finished || job.cancel_requested;
    if (!finished) setTimeout(poll, 2000);
  }
  poll();
})();
