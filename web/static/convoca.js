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
});
