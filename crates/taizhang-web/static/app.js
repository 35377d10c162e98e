// Taizhang pages work without this file; it only saves people a wasted upload and a double submission.
(function () {
  "use strict";
  function showError(input, message) {
    var old = input.parentNode.querySelector('.field-error[data-for="' + input.id + '"]');
    if (old) { old.remove(); }
    if (!message) { return; }
    var p = document.createElement("p");
    p.className = "field-error";
    p.setAttribute("role", "alert");
    p.setAttribute("data-for", input.id);
    p.textContent = message;
    input.parentNode.insertBefore(p, input);
  }
  document.querySelectorAll('input[type="file"][data-max-bytes]').forEach(function (input) {
    input.addEventListener("change", function () {
      var max = parseInt(input.getAttribute("data-max-bytes"), 10);
      var big = Array.prototype.filter.call(input.files, function (f) { return f.size > max; });
      if (big.length > 0) {
        showError(input, "附件“" + big[0].name + "”超过 " + Math.round(max / 1048576) + " MB，请压缩或分开提交");
        input.value = "";
      } else if (input.files.length > 5) {
        showError(input, "附件最多 5 个");
        input.value = "";
      } else {
        showError(input, "");
      }
    });
  });
  // A suggestion chip fills its target field (the chips arrive by htmx, hence the delegated listener).
  document.addEventListener("click", function (ev) {
    var chip = ev.target.closest ? ev.target.closest("[data-fill]") : null;
    if (!chip) { return; }
    var target = document.querySelector(chip.getAttribute("data-fill"));
    if (target) { target.value = chip.getAttribute("data-value"); }
  });
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll('button[type="submit"]').forEach(function (b) {
        b.disabled = true;
        b.textContent = "正在提交…";
      });
    });
  });
})();
