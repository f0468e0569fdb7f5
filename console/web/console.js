// customsflow review console: small progressive enhancements (pages work without it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // a click anywhere on a queue row opens the case
  for (const tr of document.querySelectorAll("tr.case")) {
    tr.addEventListener("click", (e) => {
      if (e.target.closest("a")) return;
      window.location = "/case/" + encodeURIComponent(tr.dataset.id);
    });
  }
});
