"""A sign-in or admin form body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB, its default:
only the REST API reads more, up to API_MAX_BODY_BYTES) is refused with Django's 400, not read."""

from django.conf import settings
from django.test import Client
from django.test.client import encode_multipart

TOO_LARGE = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)


def test_django_keeps_its_default_limit():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440 < settings.API_MAX_BODY_BYTES


def test_a_sign_in_over_the_limit_is_a_400_as_a_form_or_as_multipart(db):
    form = {"username": "someone", "password": TOO_LARGE}
    urlencoded = Client().post("/admin/login/", f"username=someone&password={TOO_LARGE}",
                               content_type="application/x-www-form-urlencoded")  # fmt: skip
    multipart = Client().post("/admin/login/", encode_multipart("BOUNDARY", form),
                              content_type="multipart/form-data; boundary=BOUNDARY")  # fmt: skip
    assert (urlencoded.status_code, multipart.status_code) == (400, 400)


def test_an_admin_form_over_the_limit_is_a_400(admin_client):
    response = admin_client.post("/admin/flags/flag/add/", {"key": "big", "description": TOO_LARGE})
    assert response.status_code == 400
