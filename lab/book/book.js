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

  // An equation wider than its pane is typeset smaller until it fits, its number included, so no part of it
  // hides behind a scroll bar; data-fit keeps the scale. Again when the window changes size.
  function fit() {
    document.querySelectorAll(".katex-display").forEach(function (d) {
      var k = d.querySelector(":scope > .katex");
      if (!k) return;
      k.style.fontSize = "";
      d.removeAttribute("data-fit");
      var size = parseFloat(getComputedStyle(k).fontSize), scale = 1;
      for (var i = 0; i < 4 && d.scrollWidth > d.clientWidth; i++) {
        scale *= (d.clientWidth - 1) / d.scrollWidth;
        k.style.fontSize = (size * scale).toFixed(2) + "px";
      }
      if (scale < 1) d.setAttribute("data-fit", scale.toFixed(2));
    });
  }
  var timer = null;
  window.addEventListener("resize", function () { clearTimeout(timer); timer = setTimeout(fit, 100); });
  function fitted() { fit(); document.documentElement.setAttribute("data-fitted", ""); }
  fit();
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(fitted); else fitted();

  // On a narrow screen the card and the table of contents start folded, so the first screen shows the text.
  if (window.matchMedia("(max-width: 900px)").matches) {
    document.querySelectorAll("details[data-fold]").forEach(function (e) { e.open = false; });
  }
})();
