export * from './errors';
export * from './config';
export * from './keys';
export * from './schemas';
export * from './logger';
export * from './clock';
export * from './ports';
export * from './object-store/port';
