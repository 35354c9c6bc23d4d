// The playground page: a chat view over /playground's small JSON API. It polls the transcript
// (the bot's progress edits and the clip arrive there), posts what the user types or presses,
// and sends a selfie or a camera recording as the raw request body.
"use strict";
(() => {
  const chat = document.getElementById("chat");
  const busy = document.getElementById("busy");
  const errorBox = document.getElementById("error");
  const lang = (navigator.language || "en").slice(0, 10);
  let version = -1;
  let rendered = new Map();  // message id -> element, so that a playing clip is not re-created

  async function post(path, body, type) {
    const response = await fetch(path + "?lang=" + encodeURIComponent(lang), {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-Playground": "1", "Content-Type": type },
    });
    if (!response.ok) {
      let message = "Something went wrong (" + response.status + ").";
      try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
      showError(message);
    } else {
      showError("");
    }
    version = -1;  // the whole transcript: after /delete the browser is someone new, with a new one
    await poll();
  }

  function showError(text) { errorBox.textContent = text; errorBox.hidden = !text; }

  function say(text) { return post("/playground/say", JSON.stringify({ text, lang }), "application/json"); }
  function press(data, label) {
    return post("/playground/press", JSON.stringify({ data, label, lang }), "application/json");
  }

  function render(messages) {
    const seen = new Set();
    for (const m of messages) {
      seen.add(m.id);
      const key = JSON.stringify([m.text, m.buttons, m.video || "", m.file || ""]);
      let el = rendered.get(m.id);
      if (el && el.dataset.key === key) continue;
      const fresh = document.createElement("div");
      fresh.className = "msg " + m.who;
      fresh.dataset.key = key;
      fresh.dataset.id = m.id;
      const text = document.createElement("div");
      text.className = "text";
      text.textContent = m.text;
      fresh.appendChild(text);
      if (m.video) {
        const video = document.createElement("video");
        video.src = m.video; video.controls = true; video.playsInline = true; video.preload = "auto";
        fresh.appendChild(video);
      }
      if (m.file) {
        const link = document.createElement("a");
        link.href = m.file; link.className = "file"; link.textContent = "Download " + m.file_name;
        link.download = m.file_name;
        fresh.appendChild(link);
      }
      if (m.buttons && m.buttons.length) {
        const box = document.createElement("div");
        box.className = "buttons";
        for (const row of m.buttons) {
          const line = document.createElement("div");
          line.className = "row";
          for (const b of row) {
            const button = document.createElement("button");
            button.type = "button"; button.textContent = b.label; button.dataset.data = b.data;
            button.addEventListener("click", () => press(b.data, b.label));
            line.appendChild(button);
          }
          box.appendChild(line);
        }
        fresh.appendChild(box);
      }
      if (el) { chat.replaceChild(fresh, el); } else { chat.appendChild(fresh); }
      rendered.set(m.id, fresh);
    }
    for (const [id, el] of rendered) {
      if (!seen.has(id)) { el.remove(); rendered.delete(id); }
    }
    // Keep the DOM in the transcript's order.
    for (const m of messages) chat.appendChild(rendered.get(m.id));
    window.scrollTo(0, document.body.scrollHeight);
  }

  async function poll() {
    try {
      const response = await fetch("/playground/messages?version=" + version, { credentials: "same-origin" });
      if (!response.ok) return;
      const state = await response.json();
      busy.hidden = !state.busy;
      if (state.messages) { render(state.messages); }
      version = state.version;
    } catch (_) { /* the server restarts: try again on the next tick */ }
  }

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    const text = input.value.trim();
    input.value = "";
    if (text) say(text);
  });

  document.getElementById("selfie").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) post("/playground/photo", file, file.type || "application/octet-stream");
  });

  // The live check: record a few seconds with the camera and send it.
  const recordButton = document.getElementById("record");
  if (recordButton) {
    const panel = document.getElementById("recorder");
    const preview = document.getElementById("preview");
    const clock = document.getElementById("record-time");
    let recorder = null;
    recordButton.addEventListener("click", async () => {
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: 480, height: 480 }, audio: false });
      } catch (err) {
        showError("The camera is not available: " + err.message);
        return;
      }
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
      recorder.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        panel.hidden = true;
        const blob = new Blob(chunks, { type: recorder.mimeType || "video/webm" });
        post("/playground/video", blob, blob.type);
      };
      preview.srcObject = stream;
      preview.play();
      panel.hidden = false;
      const started = Date.now();
      const tick = setInterval(() => {
        const s = (Date.now() - started) / 1000;
        clock.textContent = s.toFixed(0) + " s";
        if (s >= 10 || recorder.state !== "recording") { clearInterval(tick); if (recorder.state === "recording") recorder.stop(); }
      }, 250);
      recorder.start(250);
    });
    document.getElementById("record-stop").addEventListener("click", () => {
      if (recorder && recorder.state === "recording") recorder.stop();
    });
  }

  poll();
  setInterval(poll, 800);
})();
