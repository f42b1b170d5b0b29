// The dashboard's router: the part of the address after `#` picks the view.

import { token } from "./api.js";
import { clear, h } from "./dom.js";
import { clearNotice, showNotice } from "./notice.js";
import { showCampaign } from "./views/campaign.js";
import { showCampaigns } from "./views/campaigns.js";
import { showContacts } from "./views/contacts.js";
import { showCreate } from "./views/create.js";
import { showSignIn } from "./views/signin.js";
import { showSystem } from "./views/system.js";

const ROUTES = [
  [/^#?\/?$/, "campaigns", showCampaigns],
  [/^#\/new$/, "new", showCreate],
  [/^#\/system$/, "system", showSystem],
  [/^#\/contacts$/, "contacts", showContacts],
  [/^#\/campaigns\/([^/]+)$/, "campaigns", showCampaign],
  [/^#\/campaigns\/([^/]+)\/edit$/, "campaigns", showCreate],
];

const view = document.getElementById("view");
const nav = document.getElementById("nav");
// Each view may return a function that stops what it started (a stream, a timer).
let leaveView = null;

function render() {
  leaveView?.();
  leaveView = null;
  clearNotice();
  if (!token.get()) {
    nav.hidden = true;
    leaveView = showSignIn(view, render);
    return;
  }
  nav.hidden = false;
  for (const [pattern, name, show] of ROUTES) {
    const match = location.hash.match(pattern);
    if (!match) continue;
    for (const link of nav.querySelectorAll("a")) {
      if (link.dataset.view === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    leaveView = show(view, ...match.slice(1).map(decodeURIComponent));
    return;
  }
  clear(
    view,
    h("h1", { text: "Page not found" }),
    h("p", {}, h("a", { href: "#/", text: "Back to the campaigns" })),
  );
}

document.getElementById("sign-out").addEventListener("click", () => {
  token.clear();
  render();
});

addEventListener("unauthorized", (event) => {
  token.clear();
  render();
  showNotice(event.detail.message);
});

addEventListener("hashchange", render);
render();
