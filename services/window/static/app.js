/* The window's small script: evidence uploaded as each file is chosen (with its progress),
   the ID-card reader, printing, and focus on a form's errors. Kept to ES2017 for the
   Chromium 80-based browsers of the windows; every form also works without it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function focusErrors(root) {
    var errors = (root || document).querySelector("#form-errors");
    if (errors) {
      errors.focus();
    }
  }

  function uploadOne(input, file, list) {
    var row = document.createElement("li");
    var label = document.createElement("span");
    label.textContent = "正在上传：" + file.name + " ";
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name + " 上传进度");
    row.appendChild(label);
    row.appendChild(bar);
    list.appendChild(row);
    var data = new FormData();
    data.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", input.getAttribute("data-upload-url"));
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("HX-Request", "true");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        bar.value = Math.round((event.loaded / event.total) * 100);
      }
    });
    xhr.addEventListener("load", function () {
      var holder = document.createElement("ul");
      holder.innerHTML = xhr.responseText;
      var answer = holder.querySelector("li");
      if (answer) {
        list.replaceChild(answer, row);
      } else {
        row.textContent = "✗ " + file.name + "：上传失败，请重试";
        row.className = "text-danger";
      }
    });
    xhr.addEventListener("error", function () {
      row.textContent = "✗ " + file.name + "：网络中断，请重试";
      row.className = "text-danger";
      row.setAttribute("role", "alert");
    });
    xhr.send(data);
  }

  function wireEvidence(root) {
    var inputs = (root || document).querySelectorAll("input[type=file][data-upload-url]");
    Array.prototype.forEach.call(inputs, function (input) {
      if (input.dataset.wired) {
        return;
      }
      input.dataset.wired = "1";
      var list = input.closest("[data-evidence]").querySelector(".evidence-list");
      input.addEventListener("change", function () {
        Array.prototype.forEach.call(input.files, function (file) {
          uploadOne(input, file, list);
        });
        input.value = ""; // uploaded already: not sent again with the form
      });
    });
  }

  function setField(form, name, value) {
    var field = form.querySelector("[name='" + name + "']");
    if (field && value) {
      field.value = value;
      field.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function readCard(button) {
    var form = button.closest("form");
    var status = form.querySelector(".card-reader-status");
    var url = document.body.getAttribute("data-card-reader-url");
    var controller = new AbortController();
    var timer = setTimeout(function () {
      controller.abort();
    }, 4000);
    status.textContent = "正在读取身份证……";
    fetch(url, { signal: controller.signal, mode: "cors" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (card) {
        clearTimeout(timer);
        setField(form, "document_type", "resident_id");
        setField(form, "document_number", card.id_number);
        setField(form, "name", card.name);
        var byCard = form.querySelector("input[name=verification_method][value=card_reader]");
        if (byCard) {
          byCard.checked = true;
        }
        status.textContent = "已读取身份证，请核对。";
      })
      .catch(function () {
        clearTimeout(timer);
        status.textContent = "未检测到读卡器，请手工录入。";
      });
  }

  function wireCardReaders(root) {
    var buttons = (root || document).querySelectorAll("[data-read-card]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      if (!button.dataset.wired) {
        button.dataset.wired = "1";
        button.addEventListener("click", function () {
          readCard(button);
        });
      }
    });
  }

  // A scan photographed sideways is turned a quarter at a time (by a class: the CSP allows
  // no inline style), and the turn is announced beside the button.
  function wireRotation(root) {
    var buttons = (root || document).querySelectorAll("[data-rotate]");
    Array.prototype.forEach.call(buttons, function (button) {
      var image = document.getElementById(button.getAttribute("data-rotate"));
      var said = document.getElementById(button.getAttribute("data-rotate") + "-angle");
      if (!image || button.dataset.wired) {
        return;
      }
      button.dataset.wired = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var angle = ((parseInt(image.getAttribute("data-angle") || "0", 10) + 90) % 360);
        image.classList.remove("turned-90", "turned-180", "turned-270");
        if (angle) {
          image.classList.add("turned-" + angle);
        }
        image.setAttribute("data-angle", String(angle));
        if (said) {
          said.textContent = angle ? "已旋转 " + angle + "°" : "已转回原方向";
        }
      });
    });
  }

  function wire(root) {
    wireEvidence(root);
    wireRotation(root);
    wireCardReaders(root);
    var prints = (root || document).querySelectorAll("[data-print]");
    Array.prototype.forEach.call(prints, function (button) {
      button.addEventListener("click", function () {
        window.print();
      });
    });
  }

  // A certificate's page opened from its QR code carries the code's payload after "#" (never
  // sent to a server by the browser): posted to the window, which asks the bank whether it
  // is this certificate's, and the answer is shown in the page.
  function checkQrPayload() {
    var region = document.querySelector("[data-qr-check]");
    var fragment = window.location.hash.slice(1);
    if (!region || !fragment) {
      return;
    }
    var payload = fragment;
    try {
      payload = decodeURIComponent(fragment);
    } catch (e) {
      payload = fragment; // not percent-encoded: the bank judges it as it is
    }
    region.hidden = false;
    var result = region.querySelector("#qr-result");
    fetch(region.getAttribute("data-qr-check"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      body: "payload=" + encodeURIComponent(payload),
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.text();
      })
      .then(function (html) {
        result.innerHTML = html;
      })
      .catch(function () {
        result.textContent = "暂时无法核对二维码，请稍后刷新页面重试。";
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire(document);
    focusErrors(document);
    checkQrPayload();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    wire(event.target);
    focusErrors(event.target);
  });
})();
