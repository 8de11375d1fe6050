"""The site's few URLs outside the admin."""


def test_the_favicon_is_served_so_browsers_get_no_404(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg ")


def test_the_landing_page_is_the_admin(client):
    response = client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/admin/")
