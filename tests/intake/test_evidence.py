"""An application's evidence, streamed to the staff whose subtree holds the application (its
window and its reviewers up the tree) and to nobody else, as the file it is."""

from __future__ import annotations

from tests.factories import PDF, Window

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_the_window_and_its_reviewers_read_the_evidence_as_it_was_sent(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers), window.upload(headers, PNG, "scan.png")]
    r = window.client.post(
        "/api/v1/applications", headers=headers, json=window.deposit_body(account, evidence)
    )
    app_id = r.json["id"]
    subcentre = window.token("S001", "/ZJ/B01/S001/", "subcentre", ("reviewer",), None)
    for who in (headers, subcentre):
        got = window.client.get(
            f"/api/v1/applications/{app_id}/attachments/{evidence[0]}", headers=who
        )
        assert got.status_code == 200 and got.data == PDF
        assert got.headers["Content-Type"] == "application/pdf"
        assert got.headers["Content-Disposition"].startswith("inline; filename=")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in got.headers["Cache-Control"]
    png = window.client.get(
        f"/api/v1/applications/{app_id}/attachments/{evidence[1]}", headers=headers
    )
    assert png.headers["Content-Type"] == "image/png" and png.data == PNG


def test_evidence_is_404_outside_the_subtree_and_for_files_not_the_applications(
    window: Window,
) -> None:
    headers = window.token()
    account = window.open_account(headers)
    mine = window.upload(headers)
    app_id = window.client.post(
        "/api/v1/applications", headers=headers, json=window.deposit_body(account, [mine])
    ).json["id"]
    other = window.token("AP000002", "/ZJ/B02/S014/AP000002/")
    elsewhere = window.upload(other, PNG, "other.png")  # in the store, another's evidence
    url = f"/api/v1/applications/{app_id}/attachments"
    assert window.client.get(f"{url}/{mine}", headers=other).status_code == 404
    assert window.client.get(f"{url}/{elsewhere}", headers=headers).status_code == 404
    assert window.client.get(f"{url}/{'0' * 64}", headers=headers).status_code == 404
    assert window.client.get(f"{url}/{mine}", headers=headers).status_code == 200  # control


def test_an_application_describes_its_evidence_in_order(window: Window) -> None:
    """What a viewer needs before it reads a file: each piece's type and size, in order."""
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers, PNG, "scan.png"), window.upload(headers)]
    r = window.client.post(
        "/api/v1/applications", headers=headers, json=window.deposit_body(account, evidence)
    )
    assert r.status_code == 201, r.json
    got = window.client.get(f"/api/v1/applications/{r.json['id']}", headers=headers).json
    assert got["evidence"] == [
        {"sha256": evidence[0], "content_type": "image/png", "size": len(PNG)},
        {"sha256": evidence[1], "content_type": "application/pdf", "size": len(PDF)},
    ]
    assert r.json["evidence"] == got["evidence"]
