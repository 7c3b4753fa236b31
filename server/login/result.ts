import { canonicalGuid, field, stringField, tryParseJson } from '../jellyfin/json.ts';

/** What the gateway needs from Jellyfin's AuthenticationResult, read PascalCase or camelCase. */
export interface AuthenticationResult {
  accessToken: string;
  userId: string;
  userName: string;
  isAdmin: boolean;
  deviceId: string | undefined;
  deviceName: string | undefined;
  client: string | undefined;
  appVersion: string | undefined;
}

/** Parse a 200 login response; undefined when it is not a readable AuthenticationResult (fail closed). */
export function parseAuthenticationResult(body: Buffer): AuthenticationResult | undefined {
  const json = tryParseJson(body.toString('utf8'));
  const accessToken = stringField(json, 'AccessToken');
  const user = field(json, 'User');
  const session = field(json, 'SessionInfo');
  const userId = canonicalGuid(stringField(user, 'Id')) ?? canonicalGuid(stringField(session, 'UserId'));
  if (!accessToken || !userId) return undefined;
  return {
    accessToken,
    userId,
    userName: stringField(user, 'Name') ?? stringField(session, 'UserName') ?? userId,
    isAdmin: field(field(user, 'Policy'), 'IsAdministrator') === true,
    deviceId: stringField(session, 'DeviceId'),
    deviceName: stringField(session, 'DeviceName'),
    client: stringField(session, 'Client'),
    appVersion: stringField(session, 'ApplicationVersion'),
  };
}
