// A separate file, not an inline script: the admin's Content-Security-Policy allows scripts from 'self' only.
// While the plan is active, fetch this page every few seconds and swap in the parts marked data-live.
// A change of status reloads the whole page (the actions change too), unless a reason is being typed.
(function () {
  var summary = document.getElementById("plan-summary");
  if (!summary || !summary.dataset.refresh) return;
  var status = summary.dataset.status;
  var timer = setInterval(function () {
    fetch(window.location.href, {credentials: "same-origin"}).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (!html) return;
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var freshSummary = fresh.getElementById("plan-summary");
      if (!freshSummary) return;
      var typing = Array.prototype.some.call(document.querySelectorAll("#plan-actions textarea"), function (t) { return t.value.trim(); });
      if (freshSummary.dataset.status !== status && !typing) { window.location.reload(); return; }
      document.querySelectorAll("[data-live]").forEach(function (old) {
        var replacement = fresh.getElementById(old.id);
        if (replacement) old.replaceWith(replacement);
      });
      if (!freshSummary.dataset.refresh) clearInterval(timer);
    }).catch(function () {});
  }, Number(summary.dataset.refresh) * 1000);
})();
