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
    error, username = None, ""
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
    """A new acceptance point's administrator: the activation code they were given, and the
    password they choose (org checks both)."""
    error, form = None, {}
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("username", "activation_code")}
        body = {**form, "password": request.form.get("password", "")}
        answer = apis()["org"].call("POST", "/activation", None, json=body)
        if answer.status_code == 200:
            flash(f"受理点 {answer.json()['code']} 的管理员账号已激活，请登录。")
            return redirect(url_for("public.sign_in"), 303)
        error = problem_of(answer)
    status = 200 if error is None else 422
    return render_template("public/activate.html", error=error, form=form), status
