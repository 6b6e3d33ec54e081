"""A thin client of the WhatsApp Cloud API (Graph API): messages, media, templates, the
business number's profile and its message history. Libraries for it fix the base URL and
bring their own web framework and memory; the few calls Convoca makes fit here.

The access token goes in each request's Authorization header and nowhere else: not in a
repr, an exception or a log line."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.whatsapp.errors import Kind, classify
from handlers.core import DocumentTooBig

DEFAULT_BASE = "https://graph.facebook.com/v23.0"
CHUNK = 64 * 1024
TEMPLATE_PAGE = 100  # templates per page asked for; Meta's default is 25


class CloudError(Exception):
    """The Cloud API refused a request: its HTTP status and the Graph error it gave."""

    def __init__(self, status: int, code: int | None, message: str, *,
                 subcode: int | None = None, details: str | None = None,
                 retry_after: float | None = None) -> None:
        self.status = status
        self.code = code
        self.subcode = subcode
        self.message = message
        self.details = details
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"HTTP {self.status}, whatsapp {self.code}: {self.message}"
        return f"{text} ({self.details})" if self.details else text

    @classmethod
    def from_body(cls, status: int, body: bytes, retry_after: float | None = None
                  ) -> CloudError:
        """From Graph's ``{"error": {"message", "code", "error_subcode", "error_data":
        {"details"}}}``; a body that is not one (a proxy's error page) keeps its start."""
        try:
            error = json.loads(body).get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, dict):
            text = body[:200].decode("utf-8", "replace").strip()
            return cls(status, None, text or f"HTTP {status}", retry_after=retry_after)
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        return cls(status, _int(error.get("code")), str(error.get("message") or ""),
                   subcode=_int(error.get("error_subcode")),
                   details=str(details) if details else None, retry_after=retry_after)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (a date there is rare enough to be ignored)."""
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None


class CloudClient:
    def __init__(self, base: str, token: str, phone_number_id: str,
                 business_account_id: str | None = None, *, timeout: float = 30.0,
                 user_agent: str = "Convoca") -> None:
        self.base = base.rstrip("/")
        self.phone_number_id = phone_number_id
        self.business_account_id = business_account_id
        self.timeout = timeout
        self.user_agent = user_agent
        self.__token = token
        # Made on first use: a session belongs to the event loop it is made in, and this
        # client may be built before the loop runs.
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"CloudClient({self.base!r}, phone_number_id={self.phone_number_id!r})"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": self.user_agent})
        return self._session

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__token}"}

    async def _call(self, method: str, url: str, *, what: str, **kw: Any) -> dict[str, Any]:
        """One Graph call: its JSON answer, or CloudError / TimeoutError / ClientError.
        ``what`` names it in errors (never the URL's query, never a header)."""
        try:
            async with self._http().request(method, url, headers=self._auth(), **kw) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise CloudError.from_body(resp.status, body, _retry_after(resp.headers))
        except TimeoutError:
            raise TimeoutError(f"whatsapp {what}: no answer in {self.timeout:g} s") from None
        try:
            answer = json.loads(body) if body else {}
        except ValueError:
            raise CloudError(resp.status, None, f"{what}: the answer is not JSON") from None
        return answer if isinstance(answer, dict) else {"data": answer}

    def _url(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def _waba(self) -> str:
        if not self.business_account_id:
            raise ValueError("templates need the business account id "
                             "(WHATSAPP_BUSINESS_ACCOUNT_ID)")
        return self.business_account_id

    async def send(self, to: str, message: dict[str, Any], *, callback: str | None = None
                   ) -> str:
        """Send one message (``{"type": "text", "text": {...}}`` and the like); its wamid."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        if to.removeprefix("+").isdigit():
            body["to"] = to
        else:
            # A business-scoped user id ("CL.1502…": a person with a username and no phone
            # number shown) goes as "recipient": "to" takes phone numbers.
            body["recipient"] = to
        body.update(message)
        if callback is not None:
            body["biz_opaque_callback_data"] = callback
        answer = await self._call("POST", self._url(self.phone_number_id, "messages"),
                                  what="send", json=body)
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise CloudError(200, None, f"send: no message id in {answer!r:.200}") from None

    async def upload(self, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file to send by its media id; the id."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", content, filename=filename, content_type=mime_type)
        answer = await self._call("POST", self._url(self.phone_number_id, "media"),
                                  what="upload", data=form)
        if "id" not in answer:
            raise CloudError(200, None, "upload: no media id in the answer")
        return str(answer["id"])

    async def download(self, media_id: str, max_bytes: int) -> bytes:
        """A file a person sent, refused (DocumentTooBig) when Meta says it is bigger than
        ``max_bytes`` or when it runs past that while coming. Its URL lasts 5 minutes, and
        Meta answers an expired one (or a hiccup of its media store) with 131053: the media
        id is then asked for a fresh URL, once, before the error reaches the handler (which
        asks the person to send the file again). So is a 5xx or a dropped connection; a
        time-out is not: the person has waited long enough already."""
        try:
            return await self._download_once(media_id, max_bytes)
        except CloudError as exc:
            if exc.status != 404 and classify(exc.code, exc.status) not in (Kind.MEDIA,
                                                                            Kind.TRANSIENT):
                raise
        except aiohttp.ClientError:
            pass
        return await self._download_once(media_id, max_bytes)

    async def _download_once(self, media_id: str, max_bytes: int) -> bytes:
        info = await self._call("GET", self._url(media_id), what="media",
                                params={"phone_number_id": self.phone_number_id})
        url = str(info.get("url") or "")
        if urlsplit(url).scheme not in ("http", "https"):
            raise CloudError(200, None, f"media {media_id}: no URL to fetch it from")
        if (_int(info.get("file_size")) or 0) > max_bytes:
            raise DocumentTooBig(media_id)
        try:
            async with self._http().get(url, headers=self._auth()) as resp:
                if resp.status >= 400:
                    raise CloudError.from_body(resp.status, await resp.read(),
                                               _retry_after(resp.headers))
                got = bytearray()
                async for chunk in resp.content.iter_chunked(CHUNK):
                    got += chunk
                    if len(got) > max_bytes:
                        raise DocumentTooBig(media_id)
        except TimeoutError:
            raise TimeoutError(f"whatsapp media {media_id}: no file in {self.timeout:g} s"
                               ) from None
        return bytes(got)

    async def mark_read(self, wamid: str) -> None:
        await self._call("POST", self._url(self.phone_number_id, "messages"), what="read",
                         json={"messaging_product": "whatsapp", "status": "read",
                               "message_id": wamid})

    async def phone_number(self) -> dict[str, Any]:
        """The business number's profile: display_phone_number, verified_name..."""
        return await self._call("GET", self._url(self.phone_number_id), what="phone number")

    async def templates(self) -> list[dict[str, Any]]:
        """Every message template of the business account, all pages of them."""
        url: str | None = self._url(self._waba(), "message_templates")
        params: dict[str, Any] | None = {
            "fields": "name,language,status,category,components,id,rejected_reason",
            "limit": TEMPLATE_PAGE}
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)  # a "next" that points back would loop for ever
            page = await self._call("GET", url, what="templates", params=params)
            found += [t for t in page.get("data", []) if isinstance(t, dict)]
            # "next" carries the query (the cursor) itself.
            url, params = (page.get("paging") or {}).get("next"), None
        return found

    async def create_template(self, template: dict[str, Any]) -> dict[str, Any]:
        """Submit a template for review: ``{"id", "status", "category"}``."""
        return await self._call("POST", self._url(self._waba(), "message_templates"),
                                what="create template", json=template)

    async def history(self, **params: Any) -> dict[str, Any]:
        """What became of messages sent (``message_id=...``): recovers a send whose answer
        was lost."""
        return await self._call("GET", self._url(self.phone_number_id, "message_history"),
                                what="message history", params=params)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
