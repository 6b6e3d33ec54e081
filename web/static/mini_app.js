// Telegram's Mini App: its signed initData opens a panel session (checked on the server).
(function () {
  const tg = window.Telegram && window.Telegram.WebApp;
  const failed = () => {
    document.getElementById("mini-app-status").hidden = true;
    document.getElementById("mini-app-failed").hidden = false;
  };
  if (!tg || !tg.initData) { failed(); return; }
  tg.ready();
  const body = new URLSearchParams({ init_data: tg.initData });
  fetch("/web/telegram", { method: "POST", body, credentials: "same-origin" })
    .then((r) => r.ok ? r.json() : Promise.reject(r.status))
    .then((data) => { window.location.replace(data.next); })
    .catch(failed);
})();
