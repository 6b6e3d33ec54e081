// Small behaviours for the panel; every page also works without them.
document.addEventListener("DOMContentLoaded", () => {
  // The login link from chat: post it at once (a link preview never runs this).
  const login = document.getElementById("login");
  if (login) login.submit();
  // A language picker changes the page as soon as it changes.
  document.querySelectorAll("select.autosubmit").forEach((el) => {
    el.addEventListener("change", () => el.form.submit());
  });
  // A confirmation before a step that tells many people (data-confirm holds its words).
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });
  // A live list (data-live-pause names its search box) skips its refresh while someone is
  // typing a search there: the box keeps its words and the rows wait for the search's own
  // answer. (htmx's trigger filters would need eval, which the panel's CSP refuses.)
  let typedAt = 0;
  document.addEventListener("input", () => { typedAt = Date.now(); });
  document.body.addEventListener("htmx:beforeRequest", (ev) => {
    const pause = ev.detail.elt.dataset ? ev.detail.elt.dataset.livePause : undefined;
    const box = pause ? document.querySelector(pause) : null;
    if (box && document.activeElement === box && Date.now() - typedAt < 10000) {
      ev.preventDefault();
    }
    // Nor while the keyboard is on one of its rows: swapping them would drop the focus back
    // to the top of the page, again every few seconds, for whoever marks by keyboard or
    // screen reader. Only the refresh waits; a mark (a POST) goes.
    const polling = ev.detail.requestConfig && ev.detail.requestConfig.verb === "get";
    if (pause !== undefined && polling && ev.detail.elt.contains(document.activeElement)) {
      ev.preventDefault();
    }
  });
  // A tap that htmx could not carry out (refused, or no network at the sede) says so, rather
  // than doing nothing; the next one that works takes the notice away.
  const failed = document.getElementById("request-failed");
  if (failed) {
    const show = () => { failed.hidden = false; };
    document.body.addEventListener("htmx:responseError", show);
    document.body.addEventListener("htmx:sendError", show);
    document.body.addEventListener("htmx:afterRequest", (ev) => {
      if (ev.detail.successful) failed.hidden = true;
    });
  }
});
