"""Pocket Agronomist settings on the shared SECRETS_MANAGER rule (``devstack.settings``).

Built once at an entrypoint (:meth:`Settings.load`) and passed down. In development every key
has a default that works on one machine: the embedded PostgreSQL and Temporal, photos on the
local filesystem, the diagnosis model at the local OpenAI-compatible server (``agronom demo``
starts one). With ``APP_ENV=production`` every key below is required unless it is listed in
``production_optional``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator

from devstack.settings import StackSettings

DATABASE_KEYS = ("database_url", "db_host", "db_port", "db_username", "db_password", "db_name")
STORAGE_KEYS = (
    "storage_backend",
    "storage_dir",
    "s3_bucket",
    "s3_endpoint_url",
    "s3_region",
    "s3_access_key_id",
    "s3_secret_access_key",
)
TBANK_KEYS = (
    "tbank_terminal_key",
    "tbank_password",
    "tbank_api_base",
    "tbank_notification_url",
    "tbank_autopay_notification_url",
    "tbank_receipt_email",
    "tbank_taxation",
    "tbank_vat",
)


class Settings(StackSettings):
    """Everything Pocket Agronomist reads from its environment."""

    db_name_prefix: ClassVar[str] = "agronom"
    production_optional: ClassVar[frozenset[str]] = StackSettings.production_optional | {
        # Tuning knobs and product rules with safe defaults, not secrets or addresses.
        "free_photos_per_month",
        "pro_photos_per_month",
        "quota_timezone",
        "pro_price_kopeks",
        "pro_price_stars",
        "diagnosis_timeout_s",
        "diagnosis_max_attempts",
        "diagnosis_backoff_base_s",
        "diagnosis_backoff_max_s",
        "diagnosis_min_confidence",
        "model_breaker_failures",
        "model_breaker_cooldown_s",
        "stuck_photo_max_age_s",
        "photos_per_minute",
        "refused_photos_per_day",
        "bot_max_concurrent_updates",
        "leaf_min_coverage",
        "max_upload_bytes",
        "log_level",
        "storage_dir",
        "s3_region",
        "s3_endpoint_url",
        "telegram_api_base",
        "telegram_webhook_url",
        "tbank_api_base",
        "tbank_notification_url",
        "tbank_autopay_notification_url",
        "tbank_taxation",
        "tbank_vat",
        "auth_max_age_s",
        "bot_api_secret_previous",
        "partner_hmac_secret_previous",
        "partner_max_age_s",
        "api_base_url",
    }

    # The keys each process reads beyond the shared ones (APP_ENV, LOG_LEVEL, product rules):
    # in production a process requires only its own, so the bot never holds the bank's
    # password and the API never holds the Telegram token. A key named by no process is
    # required by every process. ``None`` (config, demo) requires them all.
    PROCESSES: ClassVar[dict[str, frozenset[str]]] = {
        "api": frozenset(
            {
                *DATABASE_KEYS,
                "temporal_address",  # /health checks it
                "openai_base_url",
                "openai_api_key",
                "openai_model",
                *STORAGE_KEYS,
                "bot_api_secret",
                "bot_api_secret_previous",
                "pseudonym_secret",
                "partner_hmac_secret",
                "api_keys",
                *TBANK_KEYS,
            }
        ),
        "worker": frozenset(
            {*DATABASE_KEYS, "temporal_address", *STORAGE_KEYS, "pseudonym_secret", *TBANK_KEYS}
        ),
        "bot": frozenset(
            {
                "bot_api_secret",
                "api_base_url",
                "telegram_bot_token",
                "telegram_api_base",
                "telegram_webhook_url",
                "telegram_webhook_secret",
            }
        ),
        "migrate": frozenset(DATABASE_KEYS),
    }

    @classmethod
    def not_needed_by(cls, process: str | None) -> set[str]:
        if process is None:
            return set()
        if process not in cls.PROCESSES:
            raise ValueError(f"unknown process {process!r}: one of {', '.join(cls.PROCESSES)}")
        return set().union(*cls.PROCESSES.values()) - cls.PROCESSES[process]

    # ---------------------------------------------------------------- product rules
    free_photos_per_month: int = Field(5, ge=0, description="Photos a free user may send a month")
    pro_photos_per_month: int = Field(300, ge=1, description="Photos a PRO user may send a month")
    quota_timezone: str = Field(
        "Europe/Moscow",
        description="IANA time zone whose calendar months the photo quota counts (the users')",
    )
    pro_price_kopeks: int = Field(19900, ge=100, description="PRO price per month, kopeks")
    pro_price_stars: int = Field(
        150,
        ge=1,
        le=10000,
        description="PRO price per 30 days in Telegram Stars (XTR), the monthly subscription "
        "sold in the bot (Telegram allows at most 10000)",
    )
    leaf_min_coverage: float = Field(
        0.05, gt=0, lt=1, description="Share of vegetation pixels below which a photo is NO_LEAF"
    )
    max_upload_bytes: int = Field(10_000_000, ge=1000, description="Largest photo accepted")

    # ---------------------------------------------------------------- abuse limits
    photos_per_minute: int = Field(
        10,
        ge=1,
        description="Photos one user may send a minute: a burst of this many, then one every "
        "60/N s (the API keeps it in PostgreSQL for every process; the bot refuses early too)",
    )
    refused_photos_per_day: int = Field(
        20,
        ge=1,
        description="Refused photos (NO_LEAF, unreadable) one user may send a day "
        "(QUOTA_TIMEZONE's day); after that every photo is refused with 429 until midnight",
    )
    bot_max_concurrent_updates: int = Field(
        32, ge=1, description="Telegram updates the bot handles at once (polling and webhook)"
    )

    # ---------------------------------------------------------------- diagnosis model
    openai_base_url: str = Field(
        "http://127.0.0.1:8089/v1",
        description="OpenAI-compatible API base URL of the vision model (…/v1)",
    )
    openai_api_key: SecretStr = Field(SecretStr("dev-key"), description="Key for that API")
    openai_model: str = Field("agronom-vision-sim", description="Vision model name")
    diagnosis_timeout_s: float = Field(20.0, gt=0, description="Timeout of one model call")
    diagnosis_max_attempts: int = Field(3, ge=1, le=10, description="Model calls per photo")
    diagnosis_backoff_base_s: float = Field(
        0.5,
        ge=0,
        description="First pause between model attempts, seconds; doubled each retry, with "
        "jitter (a random half of it)",
    )
    diagnosis_backoff_max_s: float = Field(
        8.0, ge=0, description="Longest pause between model attempts, seconds"
    )
    diagnosis_min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description='Confidence below which the answer is "not sure": the diagnosis is kept, '
        "no protocol is given, the top candidates are",
    )
    model_breaker_failures: int = Field(
        5, ge=1, description="Consecutive failed model calls that open the circuit breaker"
    )
    model_breaker_cooldown_s: float = Field(
        30.0,
        gt=0,
        description="How long an open breaker fails fast before one trial call (half-open)",
    )
    stuck_photo_max_age_s: int = Field(
        900,
        ge=60,
        description="A photo still pending/retrying this long after it was sent is failed and "
        "its quota given back by the stuck-photos job",
    )

    # ---------------------------------------------------------------- object storage
    storage_backend: Literal["local", "s3"] = Field(
        "local", description="Where photos, dataset copies and exports live: local or s3"
    )
    storage_dir: Path = Field(
        Path(".devstack/agronom-objects"), description="Root folder of the local object store"
    )
    s3_bucket: str = Field("", description="S3 bucket (storage_backend=s3)")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint [default: AWS]")
    s3_region: str = Field("ru-central1", description="S3 region")
    s3_access_key_id: SecretStr = Field(SecretStr(""), description="S3 access key id")
    s3_secret_access_key: SecretStr = Field(SecretStr(""), description="S3 secret access key")

    # ---------------------------------------------------------------- secrets of our own
    bot_api_secret: SecretStr = Field(
        SecretStr("dev-bot-secret"),
        description="HMAC key the bot signs X-Telegram-User with (shared by bot and API)",
    )
    bot_api_secret_previous: SecretStr = Field(
        SecretStr(""),
        description="The bot's previous HMAC key, still accepted by the API while a rotation is "
        "under way (the bot signs with BOT_API_SECRET only)",
    )
    auth_max_age_s: int = Field(
        300, ge=10, description="How old a signed user header may be (its nonce is kept as long)"
    )
    pseudonym_secret: SecretStr = Field(
        SecretStr("dev-pseudonym-secret"),
        description="HMAC key of the pseudonymous user reference in object keys and exports",
    )
    partner_hmac_secret: SecretStr = Field(
        SecretStr("dev-partner-secret"), description="AgroStore's HMAC-SHA256 key for orders"
    )
    partner_hmac_secret_previous: SecretStr = Field(
        SecretStr(""),
        description="AgroStore's previous key, still accepted while a rotation is under way",
    )
    partner_max_age_s: int = Field(
        300, ge=10, le=3600, description="How far a partner request's X-Timestamp may be from now"
    )
    api_keys: SecretStr = Field(
        SecretStr("dev-admin-key"),
        description="Comma-separated X-API-Key values for operator calls (DSR on behalf of a user)",
    )

    # ---------------------------------------------------------------- T-Bank acquiring
    tbank_terminal_key: str = Field("AgronomDEMO", description="T-Bank TerminalKey")
    tbank_password: SecretStr = Field(
        SecretStr("dev-tbank-password"), description="T-Bank terminal password (Token key)"
    )
    tbank_api_base: str = Field(
        "https://securepay.tinkoff.ru/v2", description="T-Bank acquiring API base URL"
    )

    tbank_notification_url: str = Field(
        "",
        description="Our public URL of /v1/payments/sbp/webhook sent with Init "
        "[default: the terminal's setting]",
    )

    tbank_autopay_notification_url: str = Field(
        "",
        description="Our public URL of /v1/payments/sbp/autopay/webhook sent with autopay "
        "charges [default: the terminal's setting]",
    )
    tbank_receipt_email: str = Field(
        "receipts@agronom.example",
        description="E-mail every 54-FZ receipt is sent to (the shop's mailbox: bot users give "
        "no e-mail or phone); the OFD keeps each receipt",
    )
    tbank_taxation: Literal["osn", "usn_income", "usn_income_outcome", "esn", "patent"] = Field(
        "usn_income",
        description="The shop's taxation system printed on receipts (Taxation): set it to yours",
    )
    tbank_vat: Literal[
        "none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat105", "vat107", "vat110", "vat120"
    ] = Field("none", description="VAT rate of the PRO subscription on receipts (Items[].Tax)")

    # ---------------------------------------------------------------- Telegram
    telegram_bot_token: SecretStr = Field(
        SecretStr("123456:dev-token"), description="Bot token from @BotFather"
    )
    telegram_api_base: str = Field(
        "https://api.telegram.org", description="Bot API server (a local one is possible)"
    )
    telegram_webhook_url: str = Field(
        "", description="Public HTTPS URL of the bot webhook; empty: long polling (development)"
    )
    telegram_webhook_secret: SecretStr = Field(
        SecretStr("dev-webhook-secret"),
        description="X-Telegram-Bot-Api-Secret-Token expected on webhook calls",
    )
    api_base_url: str = Field("http://127.0.0.1:8000", description="Where the bot finds this API")

    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING, ERROR)")

    def bot_secrets(self) -> list[str]:
        """The keys a bot request may be signed with: the current one, then the previous."""
        keys = (self.bot_api_secret, self.bot_api_secret_previous)
        return [k.get_secret_value() for k in keys if k.get_secret_value()]

    def partner_secrets(self) -> list[str]:
        """The keys a partner request may be signed with: the current one, then the previous."""
        keys = (self.partner_hmac_secret, self.partner_hmac_secret_previous)
        return [k.get_secret_value() for k in keys if k.get_secret_value()]

    @field_validator("quota_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: give an IANA name such as Europe/Moscow"
            ) from None
        return value
