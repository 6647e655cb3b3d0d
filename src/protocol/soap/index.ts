export * from './namespaces.js';
export * from './envelope.js';
export * from './build.js';
export * from './wssecurity.js';
export * from './fault.js';
export { DEFAULT_XML_LIMITS, XmlLimitExceeded, type XmlLimits } from './xml-limits.js';
export { esc, elem, nil, child, children, childElements, text, optionalText, isNil, type El } from './xml.js';
