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
