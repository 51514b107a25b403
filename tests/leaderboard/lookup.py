"""A submission's key (what URLs and the API name it by) from its number (what the service's
functions return)."""

from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.schema import Submission


def key_of(engine, number: int) -> str:
    with reading(engine) as session:
        return session.get(Submission, number).key


def signed_in(http, token: str):
    """The TestClient `http` signed in on the pages with `token`, as a browser does it: the
    form's CSRF value from the sign-in page, then the form sent."""
    page = http.get("/signin").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    answer = http.post("/signin", data={"token": token, "csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return http


def sign_in_page(page, url: str, token: str) -> None:
    """Sign the Chromium `page` in, through the form as a student does."""
    page.goto(f"{url}/signin")
    page.fill("input[name=token]", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/me")
