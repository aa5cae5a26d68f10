"""The T-Bank Token, checked against T-Bank's own documented worked example."""

from __future__ import annotations

from agronom.payments import tbank

# T-Bank MAPI documentation, section "Токен" (Init request signature): the request, its
# password and the resulting token exactly as T-Bank prints them. DATA and Receipt are nested
# objects and take no part in the token.
DOC_REQUEST = {
    "TerminalKey": "MerchantTerminalKey",
    "Amount": 19200,
    "OrderId": "21090",
    "Description": "Подарочная карта на 1000 рублей",
    "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
    "Receipt": {
        "Email": "a@test.ru",
        "Phone": "+79031234567",
        "Taxation": "osn",
        "Items": [
            {
                "Name": "Наименование товара 1",
                "Price": 10000,
                "Quantity": 1,
                "Amount": 10000,
                "Tax": "vat10",
                "Ean13": "303130323930303030630333435",
            }
        ],
    },
}
DOC_PASSWORD = "usaf8fw8fsw21g"
DOC_TOKEN = "0024a00af7c350a3a67ca168ce06502aa72772456662e38696d48b56ee9c97d9"


def test_token_reproduces_t_banks_documented_example() -> None:
    assert tbank.token(DOC_REQUEST, DOC_PASSWORD) == DOC_TOKEN


def test_the_documented_example_verifies_and_any_change_breaks_it() -> None:
    signed = {**DOC_REQUEST, "Token": DOC_TOKEN}
    assert tbank.verify(signed, DOC_PASSWORD)
    assert not tbank.verify({**signed, "Amount": 19201}, DOC_PASSWORD)
    assert not tbank.verify(signed, DOC_PASSWORD + "x")
    assert not tbank.verify({k: v for k, v in signed.items() if k != "Token"}, DOC_PASSWORD)
    # Nested objects are outside the signature, as documented.
    assert tbank.verify({**signed, "DATA": {"Phone": "+70000000000"}}, DOC_PASSWORD)


def test_booleans_are_signed_as_true_and_false() -> None:
    notification = {"TerminalKey": "T", "Success": True, "PaymentId": 13660, "Status": "CONFIRMED"}
    as_text = {**notification, "Success": "true"}
    assert tbank.token(notification, "pw") == tbank.token(as_text, "pw")
    assert tbank.token(notification, "pw") != tbank.token({**notification, "Success": False}, "pw")
    assert tbank.token({**notification, "Success": False}, "pw") == tbank.token(
        {**notification, "Success": "false"}, "pw"
    )
