// The chat conformance cases (cases.ts) against the Telegram bot and the Bot API stand-in.
import { chatConformance } from './cases.js';
import { TelegramDriver } from './telegram-driver.js';

chatConformance(() => new TelegramDriver());
