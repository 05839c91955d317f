// Types for the Retell voice widget v2: the <retell-widget> element, its constructor and events.
// The same class serves `new RetellWidget(options)` (v1-compatible) and `<retell-widget ...>`.

export type RetellWidgetPosition = 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left';
export type RetellWidgetTheme = 'purple' | 'blue' | 'green' | 'dark' | 'rose' | 'teal';
export type RetellWidgetScheme = 'light' | 'dark' | 'auto';
/** `consent` (2.5.0 and later): the consent step is shown, before the microphone prompt. */
export type RetellWidgetState = 'idle' | 'consent' | 'requesting-microphone' | 'connecting' | 'in-call' | 'ended' | 'error';
export type RetellWidgetErrorCode =
  | 'mic-denied'
  | 'no-mic'
  | 'forbidden'
  | 'rate-limited'
  | 'busy'
  | 'unavailable'
  | 'network'
  | 'offline'
  | 'sdk'
  | 'start-failed'
  | 'dropped'
  | 'bot-check'
  /** 2.5.0 and later: the proxy refused the page's configuration (e.g. `variable_not_allowed`). */
  | 'misconfigured';

/** Keys of every string the widget shows; see the widget reference for the English defaults. */
export type RetellWidgetStringKey =
  | 'launch' | 'title' | 'idle' | 'requesting-microphone' | 'connecting' | 'in-call' | 'ended'
  | 'speaking' | 'listening' | 'muted' | 'you' | 'agent' | 'transcript' | 'start' | 'again'
  | 'retry' | 'retryIn' | 'hangup' | 'cancel' | 'mute' | 'unmute' | 'minimize'
  | 'consent' | 'consentLink' | 'agree'
  | RetellWidgetErrorCode;

export interface RetellWidgetOptions {
  /** The Retell agent id; it must be registered for the page's origin. Attribute `agent-id`. */
  agentId: string;
  /** URL of the proxy's `POST /api/create-web-call`. Attribute `proxy-endpoint`. */
  proxyEndpoint: string;
  /** Corner of the viewport; default `bottom-right`. */
  position?: RetellWidgetPosition;
  /** Named colour theme; default `purple`. `dark` also switches to the dark scheme. */
  theme?: RetellWidgetTheme;
  /** Light or dark surfaces, or `auto` to follow `prefers-color-scheme`; left out, it follows the visitor too (from 2.6.0; `light` before). */
  scheme?: RetellWidgetScheme;
  /** The call SDK (an ES module exporting RetellWebClient); default: `sdk/` beside the version folders. */
  sdkUrl?: string;
  /** The launcher's text (v1's option); overrides `strings.launch`. */
  label?: string;
  /** `en`, `es` or `de`; default: the nearest `lang` attribute on the page, else English. */
  lang?: string;
  /** Replaces any string; `{s}` in a value stands for a number of seconds. Attribute: JSON. */
  strings?: Partial<Record<RetellWidgetStringKey, string>>;
  /** The bot check the website's registry entry requires: a token is sent with each call. Attribute `bot-check`. */
  botCheck?: 'turnstile' | 'recaptcha';
  /** The provider's public site key; required with `botCheck`. Attribute `bot-site-key`. */
  botSiteKey?: string;
  /**
   * 2.5.0 and later: sent with each call as `retell_llm_dynamic_variables`; only the keys the
   * website's registry entry allows (`page_variables`). Attribute `dynamic-variables`, as JSON.
   */
  dynamicVariables?: Record<string, string>;
  /**
   * 2.5.0 and later: shown before the microphone prompt, with a link to `url` and "Agree and
   * start"; remembered for 30 days per text. Attributes `consent-text`, `consent-url`.
   */
  consent?: { text: string; url?: string };
}

export interface RetellWidgetEventMap {
  'state-change': CustomEvent<{ state: RetellWidgetState; message: string; code: RetellWidgetErrorCode | null }>;
  'call-start': CustomEvent<{ callId: string | null }>;
  'call-end': CustomEvent<{ callId: string | null; reason: 'hangup' | 'agent' | 'dropped' | 'removed' }>;
  /**
   * Every utterance of the call so far, oldest first (a new array of frozen objects), each time
   * one is added or grows. Retell's own SDK hands out only the last five; the widget keeps the rest.
   */
  transcript: CustomEvent<{ transcript: ReadonlyArray<Readonly<{ role: 'agent' | 'user'; content: string }>> }>;
  'agent-talking': CustomEvent<{ talking: boolean }>;
  error: CustomEvent<{ code: RetellWidgetErrorCode; message: string; retryAfter: number | null; cause: unknown }>;
}

export declare class RetellWidget extends HTMLElement {
  /**
   * Without options: the element, configured by its attributes when connected. With options:
   * validates them (TypeError or RangeError naming the option) and adds itself to document.body.
   */
  constructor(options?: RetellWidgetOptions);
  /** Mirrors the `data-state` attribute. */
  readonly state: RetellWidgetState;
  /** Asks for the microphone, then a fresh token, then starts the call; outcomes arrive as events. */
  start(): Promise<void>;
  /** Hangs up, or cancels a call that is still starting. */
  stop(): Promise<void>;
  mute(): Promise<void>;
  unmute(): Promise<void>;
  /** Shows the call panel without starting a call. */
  open(): Promise<void>;
  /** Hides the panel; a call in progress goes on. */
  close(): Promise<void>;
  /** Ends any call, releases the microphone, removes every node and listener. Final. */
  destroy(): Promise<void>;
  /** Adds a listener for a widget event; returns a function that removes it. */
  on<K extends keyof RetellWidgetEventMap>(name: K, listener: (event: RetellWidgetEventMap[K]) => void): () => void;
  addEventListener<K extends keyof RetellWidgetEventMap>(
    type: K, listener: (this: RetellWidget, event: RetellWidgetEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}

declare global {
  interface Window {
    RetellWidget: typeof RetellWidget;
  }
  interface HTMLElementTagNameMap {
    'retell-widget': RetellWidget;
  }
}
