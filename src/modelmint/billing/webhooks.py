"""Tenants' webhooks: where alerts may be sent, and how their signing secrets are kept.

**Targets.** A webhook URL must be http(s) and must not point at the server's own network: a
loopback, private, link-local (169.254.169.254 is the cloud metadata service), shared,
reserved, multicast or unspecified address is refused, unless
``MODELMINT_WEBHOOK_ALLOW_PRIVATE=true``. The URL is checked when it is set (its literal
address, and names such as ``localhost``) and again at every delivery, after resolving the
name (DNS can change); the delivery then connects to the address it checked, so a second,
different DNS answer cannot redirect it.

**Secrets.** The signing secret (``whsec_`` + 192 random bits) is shown once to the owner and
stored sealed with AES-256-SIV (RFC 5297) under a server key, with the tenant's name as
associated data: ``v1.<key id>.<base64url>``, 62 characters. The key comes from
``MODELMINT_SECRET_KEY`` (through HKDF-SHA256), or else from ``HOME/secret.key``, created once
with mode 0600. A secret stored in clear by an older version is sealed on its next use and by
the worker's first delivery pass (see docs/design.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import socket
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from modelmint.errors import ConfigError, InvalidInput
from modelmint.store import Store

if TYPE_CHECKING:
    from modelmint.settings import Settings

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SEALED_PREFIX = "v1."
_SECRET = re.compile(r"whsec_([A-Za-z0-9_-]{32})")  # 24 random bytes, base64url
_LOCAL_NAMES = re.compile(r"(localhost|localhost\.localdomain|ip6-localhost|ip6-loopback)")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ALLOW_HINT = "set MODELMINT_WEBHOOK_ALLOW_PRIVATE=true to allow private targets"


# targets ---------------------------------------------------------------------------------------
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_v4(ip: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_public(ip: Address) -> bool:
    """True for a globally routed unicast address."""
    inner = _embedded_v4(ip)
    return all(a.is_global and not a.is_multicast for a in {ip, inner})


def _literal(host: str) -> Address | None:
    """The address a host names literally, legacy IPv4 forms included ('2130706433', '127.1',
    '0x7f.1' are 127.0.0.1 to the resolver)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", host) and not host.endswith("."):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _split(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or InvalidInput."""
    bad = InvalidInput(
        f"'{url[:100]}' is not an http(s) URL with a host; e.g. https://acme.example/hooks"
    )
    if not re.fullmatch(r"https?://\S{3,1990}", url or ""):
        raise bad
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise bad from None
    host = (parts.hostname or "").rstrip(".").lower()
    if ":" not in host:  # a name or IPv4: as the resolver will read it (IDNA folds '１２７')
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise bad from None
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host):
            raise bad
    if not host:
        raise bad
    return parts.scheme, host, port


def _refuse(url: str, what: str) -> InvalidInput:
    return InvalidInput(
        f"webhook URL '{url[:100]}' points at {what}; give a public https URL, or {_ALLOW_HINT}"
    )


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may be a webhook target: http(s), and (unless ``allow_private``) not a
    literal non-public address or a local name. Names are resolved at delivery."""
    _, host, _ = _split(url)
    if allow_private:
        return url
    ip = _literal(host)
    if ip is not None and not is_public(ip):
        raise _refuse(url, f"the non-public address {ip}")
    if _LOCAL_NAMES.fullmatch(host) or host.endswith(".localhost"):
        raise _refuse(url, f"the local host name '{host}'")
    return url


def resolve_target(url: str, *, allow_private: bool) -> list[Address]:
    """The addresses a delivery to `url` may connect to, checked now (raises InvalidInput when
    one is not public, unless allowed; OSError when the name does not resolve)."""
    check_url(url, allow_private=allow_private)
    _, host, port = _split(url)
    literal = _literal(host)
    if literal is not None:
        found = [literal]
    else:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found = list(dict.fromkeys(ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos))
    if not allow_private:
        bad = [ip for ip in found if not is_public(ip)]
        if bad:
            raise _refuse(url, f"'{host}', which resolves to the non-public address {bad[0]}")
    return found


def post_pinned(url: str, ip: Address, body: bytes, headers: dict[str, str]) -> int:
    """POST to `url`, connecting to `ip` (already checked) rather than resolving the name
    again; TLS still verifies the certificate for the URL's host. No redirects."""
    import httpx

    parts = urlsplit(url)
    host = parts.hostname or ""
    userinfo, at, _ = parts.netloc.rpartition("@")  # credentials in the URL still go along
    netloc = userinfo + at + (f"[{ip}]" if ip.version == 6 else str(ip))
    if parts.port:
        netloc += f":{parts.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header += f":{parts.port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        r = client.post(
            pinned,
            content=body,
            headers={**headers, "Host": host_header},
            extensions=extensions,
        )
        return r.status_code


# secrets ---------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class SecretBox:
    """Seals and opens tenants' webhook signing secrets with the server key."""

    key: bytes  # 64 bytes: AES-256-SIV

    @property
    def key_id(self) -> str:
        """4 hex digits naming the key (not secret): a value sealed under another key says so."""
        return hmac.new(self.key, b"modelmint key id", hashlib.sha256).hexdigest()[:4]

    @classmethod
    def from_secret(cls, secret: str) -> SecretBox:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        kdf = HKDF(
            algorithm=hashes.SHA256(),
            length=64,
            salt=None,
            info=b"modelmint webhook secrets v1",
        )
        return cls(kdf.derive(secret.encode("utf-8")))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Derived from the server key (MODELMINT_SECRET_KEY or HOME/secret.key)."""
        return cls.from_secret(settings.server_secret())

    def new_secret(self) -> str:
        return SECRET_PREFIX + secrets.token_urlsafe(24)

    def seal(self, tenant: str, secret: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        m = _SECRET.fullmatch(secret)
        if m is None:
            raise ValueError("not a webhook signing secret")
        raw = base64.urlsafe_b64decode(m.group(1))
        sealed = AESSIV(self.key).encrypt(raw, [_aad(tenant)])
        text = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
        return f"{SEALED_PREFIX}{self.key_id}.{text}"

    def open(self, tenant: str, stored: str) -> str:
        """The secret from its stored form (a clear one from an older version as it is)."""
        if not stored.startswith(SEALED_PREFIX):
            return stored
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        _, key_id, text = stored.split(".", 2)
        try:
            sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            raw = AESSIV(self.key).decrypt(sealed, [_aad(tenant)])
        except (InvalidTag, ValueError):
            where = (
                "another server key (key id " + key_id + ", this server's is " + self.key_id + ")"
                if key_id != self.key_id
                else "this key for another tenant, or was altered"
            )
            raise ConfigError(
                f"tenant '{tenant}''s webhook secret was sealed with {where}; set "
                "MODELMINT_SECRET_KEY to the key it was created with, the same on every host"
            ) from None
        return SECRET_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _aad(tenant: str) -> bytes:
    return b"modelmint webhook secret:" + tenant.encode("utf-8")


_swept: weakref.WeakSet[Store] = weakref.WeakSet()


def seal_clear_secrets(store: Store, settings: Settings) -> int:
    """Seal the webhook secrets an older version stored in clear; how many. Idempotent, and
    safe from several processes (compare-and-set). The key is read only if there are any."""
    box = None
    done = 0
    for tenant in store.billing.tenants():
        stored = tenant.get("webhook_secret")
        if not stored or stored.startswith(SEALED_PREFIX):
            continue
        if _SECRET.fullmatch(stored) is None:
            logger.warning("tenant %s: stored webhook secret has an unknown form", tenant["name"])
            continue
        box = box or SecretBox.from_settings(settings)
        sealed = box.seal(tenant["name"], stored)
        done += store.billing.replace_webhook_secret(tenant["id"], stored, sealed)
    if done:
        logger.info("sealed %d webhook secrets stored in clear by an older version", done)
    return done


def seal_clear_secrets_once(store: Store, settings: Settings) -> None:
    """`seal_clear_secrets` the first time this process sees `store` (the worker's first
    delivery pass after an upgrade)."""
    if store not in _swept:
        seal_clear_secrets(store, settings)
        _swept.add(store)
