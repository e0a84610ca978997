export { startLocalBaton, sampleCampaign, LOCAL_BUCKETS, type LocalBaton, type LocalOptions } from './compose';
export { LocalLambda, type LocalLambdaOptions } from './local-lambda';
export { startMailgunSink, type MailgunSink, type SinkMessage } from './mailgun-sink';
export { startupBanner } from './banner';
export { devSecret, DevSecretError, type DevSecret } from './dev-secrets';
export { PortInUseError, assertPortFree } from './port';
