import { S3ServiceException } from '@aws-sdk/client-s3';
import { classifyAwsError, describeAwsError, type AwsFailure } from '../../src/aws/sdk-errors';

/** A service error as any v3 client throws it (the S3 class stands for every client's). */
function serviceError(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: `${name} happened`,
  });
}

function nodeError(code: string, name = 'Error', message = code): Error {
  return Object.assign(new Error(message), { code, name });
}

describe('classifyAwsError', () => {
  const cases: [string, unknown, AwsFailure][] = [
    ['SNS throttling', serviceError('Throttled', 400), 'throttled'],
    ['a ThrottlingException', serviceError('ThrottlingException', 400), 'throttled'],
    ['Lambda concurrency exhausted', serviceError('TooManyRequestsException', 429), 'throttled'],
    ['a bare 429', serviceError('UnknownError', 429), 'throttled'],
    ['a 503', serviceError('ServiceUnavailable', 503), 'unavailable'],
    ['a 500', serviceError('InternalError', 500), 'unavailable'],
    ['a function being updated', serviceError('ResourceConflictException', 409), 'unavailable'],
    ['a refused connection', nodeError('ECONNREFUSED'), 'unreachable'],
    ['a DNS failure', nodeError('ENOTFOUND'), 'unreachable'],
    [
      'a connect timeout',
      Object.assign(
        new Error(
          '@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 3000 ms.',
        ),
        { name: 'TimeoutError' },
      ),
      'unreachable',
    ],
    [
      'a request timeout',
      nodeError('ETIMEDOUT', 'TimeoutError', 'a request has exceeded the configured 10000 ms requestTimeout.'),
      'timeout',
    ],
    ['a reset connection', nodeError('ECONNRESET', 'TimeoutError', 'socket hang up'), 'timeout'],
    [
      'undici hiding the socket error in its cause',
      Object.assign(new TypeError('fetch failed'), { cause: nodeError('UND_ERR_SOCKET') }),
      'timeout',
    ],
    ['AccessDenied', serviceError('AccessDeniedException', 403), 'access-denied'],
    ['a KMS refusal that Lambda answers with a 502', serviceError('KMSAccessDeniedException', 502), 'access-denied'],
    ['SNS AuthorizationError', serviceError('AuthorizationErrorException', 403), 'access-denied'],
    ['expired credentials', serviceError('ExpiredTokenException', 400), 'access-denied'],
    [
      'no credentials at all',
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      'access-denied',
    ],
    ['a missing resource', serviceError('ResourceNotFoundException', 404), 'not-found'],
    ['any other 4xx', serviceError('InvalidParameterException', 400), 'rejected'],
    [
      'a service error with no status',
      Object.assign(new Error('garbled'), { name: 'Unknown', $fault: 'server', $metadata: {} }),
      'unavailable',
    ],
  ];

  it.each(cases)('classifies %s', (_what, error, expected) => {
    // Act
    const failure = classifyAwsError(error);

    // Assess
    expect(failure).toBe(expected);
  });

  it('leaves an error that is neither the SDK nor the network unclassified', () => {
    // Act
    const failure = classifyAwsError(new TypeError('x is not a function'));

    // Assess
    expect(failure).toBeUndefined();
  });
});

describe('describeAwsError', () => {
  it('names the error, its status and its message', () => {
    // Act
    const text = describeAwsError(serviceError('Throttled', 400));

    // Assess
    expect(text).toBe('Throttled (400): Throttled happened');
  });
});
