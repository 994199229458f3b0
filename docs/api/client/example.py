import os
import uuid

from payments_client import PaymentsApiError, PaymentsClient

client = PaymentsClient(
    base_url=os.environ["API_URL"],        # the environment's api-url
    token_url=os.environ["TOKEN_URL"],     # the environment's token endpoint
    client_id=os.environ["CLIENT_ID"],
    client_secret=os.environ["CLIENT_SECRET"],
    api_key=os.environ["API_KEY"],
)
payment = {"customer_id": "cust_001", "amount": "99.50", "currency": "USD",
           "card_number": "4111111111111111"}
# Store the key with your order before sending: any retry of this payment must reuse it.
idempotency_key = str(uuid.uuid4())
try:
    result = client.process(payment, idempotency_key=idempotency_key)
    print(result["transaction_id"], result["status"])
except PaymentsApiError as error:
    print("rejected:", error.status, error.code, error.message, "request id", error.request_id)
