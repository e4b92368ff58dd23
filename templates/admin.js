// The dashboard's only script: copy buttons, delete confirmations, the live filter and the order
// menu, focus on the first refused input, and wiping a shown token when its page is left.
// Every action also works without it (plain form posts and links); it only makes them quicker.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = document.getElementById(button.dataset.copy).textContent;
  navigator.clipboard.writeText(text).then(() => {
    const label = button.innerHTML;
    button.textContent = "Copied";
    setTimeout(() => { button.innerHTML = label; }, 1500);
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

// Filtering as you type. The filter also goes into the address and into every form's hidden q,
// so an action taken on the filtered list comes back to the same filtered list.
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
    const none = document.querySelector(".no-match");
    if (none) none.hidden = shown > 0;
    const stale = document.querySelector(".no-match-static");
    if (stale) stale.hidden = true;
    for (const input of document.querySelectorAll('input[type="hidden"][name="q"]')) input.value = filter.value.trim();
    const url = new URL(location.href);
    if (filter.value.trim()) url.searchParams.set("q", filter.value.trim()); else url.searchParams.delete("q");
    history.replaceState(null, "", url);
  };
  filter.addEventListener("input", apply);
  const order = document.getElementById("sort");
  if (order) order.addEventListener("change", () => order.form.submit());
}

// autofocus already puts the focus on the first refused input; this covers a browser that kept
// the focus elsewhere (a restored page, for one).
const invalid = document.querySelector('[aria-invalid="true"]');
if (invalid && document.activeElement === document.body) invalid.focus();

// A new token is shown once. Leaving the page wipes it, so Back (from the browser's page cache)
// cannot show it again; a page restored from that cache is reloaded, and the server then says it
// was shown already.
if (document.getElementById("new-token")) {
  window.addEventListener("pagehide", () => {
    for (const code of document.querySelectorAll("#new-token, .snippet code")) code.textContent = "(shown once; no longer shown)";
  });
  window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });
}
