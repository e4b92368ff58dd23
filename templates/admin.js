// The dashboard's only script: copy buttons, delete confirmations and the live filter.
// Every action also works without it (plain form posts); it only makes them quicker.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = document.getElementById(button.dataset.copy).textContent;
  navigator.clipboard.writeText(text).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// A confirmed delete posts confirm=yes; without this script the server asks on a page instead.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  const confirmed = document.createElement("input");
  confirmed.type = "hidden";
  confirmed.name = "confirm";
  confirmed.value = "yes";
  form.appendChild(confirmed);
});

const filter = document.getElementById("filter");
if (filter) {
  const apply = () => {
    const q = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const row of document.querySelectorAll("tr[data-search]")) {
      const match = row.dataset.search.includes(q);
      row.hidden = !match;
      if (match) shown++;
    }
    const none = document.querySelector("tr.no-match");
    if (none) none.hidden = shown > 0;
  };
  filter.addEventListener("input", apply);
}
