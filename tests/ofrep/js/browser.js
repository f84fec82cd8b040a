// Bundled by esbuild into dist/browser.js for page.html: @openfeature/web-sdk with
// @openfeature/ofrep-web-provider, configured from the page's query string (base, key, poll).
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

const params = new URLSearchParams(window.location.search);
window.configurationChanges = 0;
window.evaluate = () => {
  const client = OpenFeature.getClient();
  return {
    'new-checkout': client.getBooleanDetails('new-checkout', false),
    'banner-text': client.getStringDetails('banner-text', 'fallback'),
    'max-items': client.getNumberDetails('max-items', 1),
    theme: client.getObjectDetails('theme', {}),
    killed: client.getBooleanDetails('killed', true),
    'server-only': client.getBooleanDetails('server-only', true),
  };
};
window.ready = (async () => {
  const provider = new OFREPWebProvider({
    baseUrl: params.get('base'),
    headers: [['Authorization', `Bearer ${params.get('key')}`]],
    pollInterval: Number(params.get('poll') || 500),
    cacheMode: 'network-first',
  });
  OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, () => { window.configurationChanges += 1; });
  await OpenFeature.setContext({ targetingKey: 'user-1', plan: 'pro' });
  try {
    await OpenFeature.setProviderAndWait(provider);
    document.getElementById('status').textContent = 'ready';
  } catch (error) {
    document.getElementById('status').textContent = `error: ${error}`;
  }
  return document.getElementById('status').textContent;
})();
