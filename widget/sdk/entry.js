// The one export the widget needs: Retell's own browser client, unmodified.
export { RetellWebClient } from 'retell-client-js-sdk';
