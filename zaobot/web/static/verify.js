// Verify: send the chosen clip as the request body (no multipart, nothing spooled to disk),
// with the session's CSRF token in a header; show the report the server renders.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("verify-form");
  const status = document.getElementById("verify-status");
  const result = document.getElementById("verify-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.clip.files[0];
    if (!file) { status.textContent = "Choose a clip first."; return; }
    status.textContent = "Reading the watermark…";
    result.innerHTML = "";
    try {
      const response = await fetch("/console/verify", {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "X-CSRF-Token": form.dataset.csrf, "Content-Type": "application/octet-stream" },
      });
      if (!response.ok) { status.textContent = await response.text(); return; }
      status.textContent = "";
      result.innerHTML = await response.text();  // server-rendered and escaped
    } catch (err) {
      status.textContent = "The upload failed: " + err;
    }
  });
});
