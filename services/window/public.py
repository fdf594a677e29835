"""What anyone may reach without signing in: sign-in and sign-out, and the page where an
acceptance point's new administrator activates the account allocated to them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from services.window import signin
from services.window.apis import ApiError, apis, problem_of

blp = Blueprint("public", __name__)


def _safe_next(target: str | None) -> str:
    # Only a path of this site: never an address elsewhere (an open redirect).
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("window.home")


@blp.route("/login", methods=["GET", "POST"])
def sign_in() -> Any:
    """The sign-in page; on success, the page the person was going to, or the workbench."""
    # A newly activated admin arrives with their username filled in.
    error, username = None, request.args.get("username", "").strip()[:64]
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        try:
            signin.sign_in(username, request.form.get("password", ""))
            return redirect(_safe_next(request.args.get("next")), 303)
        except ApiError as exc:
            error = exc
    status = 200 if error is None else (error.status if error.status in (401, 403, 429) else 422)
    return render_template("public/sign_in.html", error=error, username=username), status


@blp.post("/logout")
def sign_out() -> Response:
    signin.sign_out()
    flash("您已安全退出。")
    return redirect(url_for("public.sign_in"), 303)


@blp.route("/activate", methods=["GET", "POST"])
def activate() -> Any:
    """A new acceptance point's administrator: the username and activation code they were
    given, and the password they choose (org checks all three)."""
    if request.method == "GET":
        return render_template("public/activate.html", error=None, form={})
    form = {k: request.form.get(k, "").strip() for k in ("username", "activation_code")}
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        # Not a rule but a typing check: a mistyped password would lock them out with
        # their code spent, and nobody could tell them what they typed.
        error = ApiError(422, "", [{"field": "password_again", "reason": "两次输入的密码不一致"}])
        return render_template("public/activate.html", error=error, form=form), 422
    body = {k: v for k, v in {**form, "password": password}.items() if v}
    answer = apis()["org"].call("POST", "/activation", None, json=body)
    if answer.status_code == 200:
        flash(f"受理点 {answer.json()['code']} 的管理员账号已激活，请用新密码登录。")
        return redirect(url_for("public.sign_in", username=form["username"]), 303)
    error = problem_of(answer)
    status = error.status if error.status in (409, 422, 429) else 502
    return render_template("public/activate.html", error=error, form=form), status
