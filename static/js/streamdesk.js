// Small behaviours that htmx does not cover. No build step: plain ES2020.

// Typed confirmations: a form with data-confirm-text only submits when the
// operator types that exact text into its [name=confirm] field.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const expected = form.dataset && form.dataset.confirmText;
  if (!expected) return;
  const typed = form.querySelector("[name=confirm]");
  if (!typed || typed.value !== expected) {
    event.preventDefault();
    if (typed) {
      typed.setCustomValidity(`Type ${expected} to confirm.`);
      typed.reportValidity();
      typed.addEventListener("input", () => typed.setCustomValidity(""), { once: true });
    }
  }
}, true);

// Error answers (400/404/409/503) carry a banner partial: show it where the
// content would have gone instead of leaving the old content silently in place.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status >= 400) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Object uploads: sent with XMLHttpRequest so the form's <progress> shows how much has gone;
// the server's redirect page (its message, or the error) replaces this one when done.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-upload-progress")) return;
  event.preventDefault();
  const bar = form.querySelector("progress");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.upload.addEventListener("progress", (e) => {
    if (bar && e.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round((100 * e.loaded) / e.total);
    }
  });
  request.addEventListener("load", () => {
    window.location.assign(request.responseURL || window.location.href);
  });
  request.send(new FormData(form));
});

// The publish form's schema panel: "use it" copies the example into the key or value field.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-fill-from]");
  if (!button) return;
  const source = document.querySelector(button.dataset.fillFrom);
  const target = document.querySelector(button.dataset.fillInto);
  if (source && target) {
    target.value = target.tagName === "INPUT" ? source.textContent.replace(/\s*\n\s*/g, " ") : source.textContent;
    target.focus();
  }
});
