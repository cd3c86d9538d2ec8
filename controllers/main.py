import logging
from urllib.parse import urlencode

from odoo import SUPERUSER_ID, http
from odoo.http import request

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # notifications are a few kilobytes


class WalletWebhookController(http.Controller):
    _webhook_url = "/wallet/webhook/<int:provider_id>"

    @http.route(_webhook_url, type="http", auth="public", methods=["POST"], csrf=False, save_session=False)
    def wallet_webhook(self, provider_id, **kwargs):
        """Receive a provider's notification about a payout.

        Returns 403 for a bad or missing signature and another 4xx for a body
        that is not a notification, and then changes nothing. Every verified
        notification, known or not, gets 200, so that providers do not disable
        the endpoint.
        """
        # Public route: the provider is looked up and the event stored as superuser.
        provider = request.env["wallet.provider"].sudo().browse(provider_id).exists()
        remote_address = request.httprequest.remote_addr
        if not provider or provider.state == "disabled":
            _logger.warning("wallet webhook: unknown or disabled provider %s from %s", provider_id, remote_address)
            return self._reply(404, "unknown provider")
        content_type = (request.httprequest.mimetype or "").lower()
        if content_type not in provider._get_notification_content_types():
            _logger.warning(
                "wallet webhook of provider %s: unsupported content type %r", provider_id, content_type
            )
            return self._reply(415, "unsupported content type")
        length = request.httprequest.content_length
        if length is not None and length > MAX_BODY_BYTES:
            _logger.warning("wallet webhook of provider %s: body of %s bytes rejected", provider_id, length)
            return self._reply(413, "body too large")
        raw_body = request.httprequest.get_data(cache=True)
        if not raw_body and request.httprequest.form:
            # Odoo parses a url-encoded body into the route's parameters before
            # this method runs, and werkzeug keeps no copy of the bytes, so the
            # parsed fields are encoded again, in the order they were sent.
            raw_body = urlencode(list(request.httprequest.form.items(multi=True))).encode()
        # The change is made by the system user (OdooBot), not the public user.
        status, message = request.env["wallet.event"].with_user(SUPERUSER_ID)._receive_notification(
            provider, raw_body, request.httprequest.headers, remote_address
        )
        return self._reply(status, message)

    @staticmethod
    def _reply(status, message):
        return request.make_json_response({"status": message}, status=status)
