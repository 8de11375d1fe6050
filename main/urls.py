"""URLs: the tool is operated through the Django admin, which is also the landing page."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import path
from django.views.generic import RedirectView

# Browsers ask every site for /favicon.ico; answering with a small icon keeps a 404 out of
# the server's log and the browser's console.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#417690"/>'
    '<path d="M3 12V4l2.5 4L8 4v8M9 12V4l2.5 4L14 4v8" stroke="#fff" fill="none"/></svg>'
)


def favicon(request):
    """The site's icon, an inline SVG (no static file to collect)."""
    response = HttpResponse(FAVICON, content_type="image/svg+xml")
    response["Cache-Control"] = "max-age=86400"
    return response


urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
