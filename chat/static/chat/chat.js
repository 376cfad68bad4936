// The web chat: sends messages through the REST API and applies the reply's SSE stream.
// Every HTML fragment inserted here was rendered and sanitised by the server's renderer;
// text from people and models only ever goes in through textContent.
(function () {
  "use strict";
  const chat = document.querySelector(".chat");
  if (!chat) return;
  const conversationId = chat.dataset.conversationId;
  const thread = document.getElementById("thread");
  const composer = document.getElementById("composer");
  const text = document.getElementById("composer-text");
  const modelSelect = document.getElementById("composer-model");
  const stopButton = document.getElementById("stop");
  const sendButton = document.getElementById("send");
  const template = document.getElementById("assistant-template");
  let live = null; // {source, article}

  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const error = new Error(describe(data) || response.statusText);
      error.data = data;
      throw error;
    }
    return data;
  }

  function describe(data) {
    if (!data) return "";
    if (typeof data.detail === "string") return data.detail;
    return Object.values(data).flat().join(" ");
  }

  function showError(article, message) {
    const box = article.querySelector(".msg__error");
    box.textContent = message;
    box.hidden = !message;
  }

  function userBubble(content) {
    const article = document.createElement("article");
    article.className = "msg msg--user";
    article.setAttribute("aria-label", "You");
    const body = document.createElement("div");
    body.className = "msg__body";
    body.textContent = content;
    article.append(body);
    return article;
  }

  function assistantArticle(message) {
    const article = template.content.firstElementChild.cloneNode(true);
    article.dataset.messageId = message.id;
    article.dataset.streamUrl = message.stream_url;
    article.querySelector(".msg__editor textarea").id = "raw-" + message.id;
    article.querySelector(".msg__editor label").htmlFor = "raw-" + message.id;
    return article;
  }

  function setBusy(busy) {
    stopButton.hidden = !busy;
    sendButton.disabled = busy;
  }

  function applyOps(body, ops) {
    for (const op of ops) {
      let segment = body.querySelector(':scope > [data-segment="' + op.segment + '"]');
      if (!segment) {
        body.querySelector(":scope > .typing")?.remove();
        segment = document.createElement("div");
        segment.className = "seg";
        segment.dataset.segment = op.segment;
        body.append(segment);
      }
      segment.innerHTML = op.html; // server-rendered, sanitised
    }
  }

  function stream(article) {
    const body = article.querySelector(".msg__body");
    // Screen readers hold a busy live region and read the answer once, when it is whole.
    body.setAttribute("aria-busy", "true");
    const source = new EventSource(article.dataset.streamUrl);
    live = { source, article };
    setBusy(true);
    const finish = (status) => {
      source.close();
      if (live && live.source === source) live = null;
      article.dataset.status = status;
      body.setAttribute("aria-busy", "false");
      article.querySelector(".msg__tools").hidden = false;
      setBusy(false);
    };
    source.addEventListener("ops", (e) => applyOps(body, JSON.parse(e.data).ops));
    source.addEventListener("done", (e) => {
      const data = JSON.parse(e.data);
      body.innerHTML = data.html; // the canonical render of the whole reply
      // A reply cut off (status "partial") must say so and why, or it would look complete.
      const status = data.status || "done";
      showError(article, status === "done" ? "" : data.message || "This answer stopped before the end.");
      finish(status);
    });
    source.addEventListener("error", (e) => {
      let message = "The connection to the server was lost.";
      if (e.data) {
        const data = JSON.parse(e.data);
        message = data.message || message;
        if (data.html) body.innerHTML = data.html;
      }
      body.querySelector(":scope > .typing")?.remove();
      showError(article, message);
      finish("failed");
    });
  }

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = text.value.trim();
    if (!content || live) return;
    const bubble = userBubble(content);
    thread.append(bubble);
    text.value = "";
    try {
      const [, reply] = await api("POST", `/api/conversations/${conversationId}/messages/`, {
        text: content,
        model: modelSelect.value,
      });
      const article = assistantArticle(reply);
      thread.append(article);
      article.scrollIntoView({ block: "end" });
      stream(article);
    } catch (err) {
      bubble.remove();
      text.value = content; // nothing the user typed is lost
      const note = document.createElement("p");
      note.className = "alert";
      note.setAttribute("role", "alert");
      note.textContent = "Not sent: " + err.message;
      thread.append(note);
    }
  });

  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  stopButton.addEventListener("click", () => {
    if (!live) return;
    const { source, article } = live;
    source.close(); // the server sees the disconnect, stops the model and saves what it has
    live = null;
    showError(article, "Stopped.");
    article.dataset.status = "partial"; // as the server stores it
    article.querySelector(".msg__body").setAttribute("aria-busy", "false");
    article.querySelector(".msg__tools").hidden = false;
    article.querySelector(":scope .typing")?.remove();
    setBusy(false);
  });

  thread.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const article = button.closest(".msg--assistant");
    if (!article) return;
    const id = article.dataset.messageId;
    if (button.dataset.feedback) {
      const rating = Number(button.dataset.feedback);
      try {
        await api("PUT", `/api/messages/${id}/feedback/`, { rating, comment: "" });
        article.querySelectorAll("[data-feedback]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        const comment = article.querySelector(".msg__comment");
        comment.hidden = false;
        comment.dataset.rating = rating;
        comment.querySelector("input").focus();
      } catch (err) {
        showError(article, "Feedback not saved: " + err.message);
      }
    } else if ("correct" in button.dataset) {
      const editor = article.querySelector(".msg__editor");
      editor.hidden = false;
      const raw = editor.querySelector("textarea");
      if (!raw.value) {
        const message = await api("GET", `/api/messages/${id}/`);
        raw.value = message.raw;
      }
      raw.focus();
    } else if ("editorCancel" in button.dataset) {
      article.querySelector(".msg__editor").hidden = true;
    } else if ("regenerate" in button.dataset) {
      if (live) return;
      try {
        const reply = await api("POST", `/api/messages/${id}/regenerate/`, { model: modelSelect.value });
        const fresh = assistantArticle(reply);
        article.replaceWith(fresh);
        stream(fresh);
      } catch (err) {
        showError(article, err.message);
      }
    } else if (button.dataset.action) {
      const card = button.closest("[data-action-card][data-block-index]");
      if (!card) return;
      const decision = button.dataset.action === "confirm" ? "confirm" : "cancel";
      card.querySelectorAll("button[data-action]").forEach((b) => (b.disabled = true));
      try {
        const run = await api("POST", `/api/messages/${id}/actions/${card.dataset.blockIndex}/`, { decision });
        const item = document.createElement("li");
        item.dataset.blockIndex = run.block_index;
        item.dataset.status = run.status;
        item.textContent = run.outcome;
        article.querySelector(".msg__actions-log").append(item);
      } catch (err) {
        card.querySelectorAll("button[data-action]").forEach((b) => (b.disabled = false));
        showError(article, err.message);
      }
    }
  });

  thread.addEventListener("submit", async (event) => {
    const form = event.target;
    const article = form.closest(".msg--assistant");
    if (!article) return;
    event.preventDefault();
    const id = article.dataset.messageId;
    if (form.classList.contains("msg__comment")) {
      const rating = Number(form.dataset.rating || (article.querySelector('[data-feedback][aria-pressed="true"]') || {}).dataset?.feedback);
      try {
        await api("PUT", `/api/messages/${id}/feedback/`, { rating, comment: form.elements.comment.value });
        form.hidden = true;
      } catch (err) {
        showError(article, "Comment not saved: " + err.message);
      }
    } else if (form.classList.contains("msg__editor")) {
      const errors = form.querySelector(".msg__editor-errors");
      errors.replaceChildren();
      try {
        await api("POST", `/api/messages/${id}/corrections/`, { raw: form.elements.raw.value });
        form.hidden = true;
        article.querySelector(".msg__corrected").hidden = false;
      } catch (err) {
        const messages = err.data ? Object.values(err.data).flat() : [err.message];
        for (const message of messages.flatMap((m) => String(m).split(" | "))) {
          const item = document.createElement("li");
          item.textContent = message;
          errors.append(item);
        }
      }
    }
  });

  // A reply still streaming when the page loads (a reload mid-answer) resumes here.
  const pending = thread.querySelector('.msg--assistant[data-status="streaming"]');
  if (pending) stream(pending);
})();
