// Evaluates the OFREP test flags with @openfeature/server-sdk + @openfeature/ofrep-provider and
// prints one JSON object: {flagKey: details}. Usage: BASE_URL=... KEY=... node node_client.mjs
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const provider = new OFREPProvider({ baseUrl: process.env.BASE_URL, headers: [['Authorization', `Bearer ${process.env.KEY}`]] });
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();
const user = { targetingKey: 'user-1' };
const pro = { targetingKey: 'user-1', plan: 'pro' };
const details = {
  'new-checkout': await client.getBooleanDetails('new-checkout', true, user),
  'new-checkout/pro': await client.getBooleanDetails('new-checkout', false, pro),
  'banner-text': await client.getStringDetails('banner-text', 'fallback', user),
  'max-items': await client.getNumberDetails('max-items', 1, user),
  theme: await client.getObjectDetails('theme', {}, user),
  'killed/true': await client.getBooleanDetails('killed', true, user),
  'killed/false': await client.getBooleanDetails('killed', false, user),
  'no-such-flag': await client.getBooleanDetails('no-such-flag', true, user),
  'server-only': await client.getBooleanDetails('server-only', true, user),
};
process.stdout.write(JSON.stringify(details));
await OpenFeature.close();
