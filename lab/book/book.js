// Highlight the equation or code line a link lands on: on a click, on a second click of the same
// link, and on a deep link. Without this script :target highlights it all the same.
(function () {
  "use strict";
  function mark(scroll) {
    document.querySelectorAll(".hl").forEach(function (e) { e.classList.remove("hl"); });
    var el = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!el) return;
    void el.offsetWidth; // restart the flash
    el.classList.add("hl");
    if (scroll) el.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", function () { mark(false); });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest('a[href^="#"]');
    if (!a) return;
    // keep the place the reader came from marked too: the code line of a citation, the equation of a back-link
    document.querySelectorAll(".from").forEach(function (e) { e.classList.remove("from"); });
    var from = a.closest(".line, .eq");
    if (from) from.classList.add("from");
    if (a.getAttribute("href") === location.hash) { ev.preventDefault(); mark(true); }
  });
  mark(false);
})();
