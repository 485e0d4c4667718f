// Wharf's pages work without this script; it adds copy buttons and an
// upload with a progress bar, drag and drop, and the server's sentence.
"use strict";

document.querySelectorAll("button.copy[data-copy]").forEach((button) => {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch (_) {
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
});

const form = document.getElementById("upload-form");
if (form) {
  const input = document.getElementById("file");
  const drop = document.getElementById("drop");
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const error = document.getElementById("upload-error");
  const csrf = form.querySelector("input[name=csrf]").value;

  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      status.textContent = event.dataTransfer.files[0].name;
    }
  });

  form.addEventListener("submit", (event) => {
    const file = input.files[0];
    if (!file) return;
    event.preventDefault();
    error.hidden = true;
    progress.hidden = false;
    progress.value = 0;
    status.textContent = "Uploading " + file.name + "…";
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
    });
    request.addEventListener("load", () => {
      if (request.status === 201) {
        status.textContent = "Uploaded.";
        window.location.href = request.getResponseHeader("Location") || request.responseText;
      } else {
        progress.hidden = true;
        status.textContent = "";
        const reason = request.responseText || ("the server answered " + request.status + ".");
        error.textContent = "'" + file.name + "' was not stored: " + reason;
        error.hidden = false;
      }
    });
    request.addEventListener("error", () => {
      progress.hidden = true;
      error.textContent = "'" + file.name + "' was not sent: the server could not be reached.";
      error.hidden = false;
    });
    request.send(file);
  });
}
