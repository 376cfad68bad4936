// Live preview of a version being written: posts the form's content to the server, which
// renders the cards with the same sandboxed engine the chat uses, and shows the diff.
(function () {
  "use strict";
  const panel = document.getElementById("weft-preview");
  if (!panel) return;
  const errors = document.getElementById("weft-preview-errors");
  const diff = document.getElementById("weft-diff");
  const form = panel.closest("form");
  const fields = ["widget", "json_schema", "card_template", "examples"];
  let timer = null;
  let inFlight = null;

  function text(tag, content, className) {
    const el = document.createElement(tag);
    el.textContent = content;
    if (className) el.className = className;
    return el;
  }

  async function refresh() {
    const body = new FormData();
    for (const name of fields) {
      const input = form.elements[name];
      if (input) body.append(name, input.value);
    }
    body.append("csrfmiddlewaretoken", form.elements["csrfmiddlewaretoken"].value);
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    let data;
    try {
      const response = await fetch(panel.dataset.previewUrl, { method: "POST", body, signal: inFlight.signal });
      data = await response.json();
    } catch (err) {
      if (err.name !== "AbortError") errors.replaceChildren(text("li", "Preview unavailable: " + err));
      return;
    }
    // Cards are server-rendered by the sandboxed card engine (autoescaped): safe to insert.
    panel.innerHTML = data.cards.join("");
    errors.replaceChildren(
      ...Object.entries(data.errors || {}).flatMap(([field, msgs]) => msgs.map((m) => text("li", field + ": " + m)))
    );
    if (!data.diff_base) {
      diff.replaceChildren(text("p", "No active version to compare with."));
    } else if (!data.diff.length) {
      diff.replaceChildren(text("p", "Same as the active version (" + data.diff_base + ")."));
    } else {
      diff.replaceChildren(
        ...data.diff.flatMap((d) => {
          const pre = document.createElement("pre");
          pre.className = "weft-diff";
          for (const [kind, line] of d.lines) pre.append(text("span", line + "\n", "weft-diff--" + kind));
          return [text("h3", d.field + " (vs " + data.diff_base + ")"), pre];
        })
      );
    }
  }

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  form.addEventListener("change", refresh);
  refresh();
})();
